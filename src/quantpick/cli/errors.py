"""The one table from domain errors to exit codes, and from the core's setting names to the flags.

Looked up along the exception's MRO, so a subclass maps by its own row when it has one, else by its
parent's; the order of the rows does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantpick.errors import (
    CatalogError,
    DownloadError,
    HubError,
    Interrupted,
    InvalidValue,
    NoFitError,
    QuantpickError,
    UsageError,
)

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_NO_FIT = 3
EXIT_HUB = 4
EXIT_DOWNLOAD = 5
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[type[QuantpickError], int] = {
    QuantpickError: EXIT_UNEXPECTED,
    UsageError: EXIT_USAGE,
    CatalogError: EXIT_USAGE,
    NoFitError: EXIT_NO_FIT,
    HubError: EXIT_HUB,
    DownloadError: EXIT_DOWNLOAD,
    Interrupted: EXIT_INTERRUPTED,
}

# InvalidValue.field -> the flag a user types
FLAGS = {
    "mode": "--mode",
    "ctx": "--ctx",
    "reserve": "--reserve",
    "prefer": "--prefer",
    "quant": "--quant",
    "vram": "--vram",
    "ram": "--ram",
    "backend": "--backend",
    "hardware": "--hardware",
    "params": "--params",
    "local_dir": "--local-dir",
    "mmproj": "--mmproj",
    "revision": "--revision",
    "connections": "--connections",
    "parallel": "--parallel",
    "flash_attn": "--flash-attn",
    "ubatch": "--ubatch",
    "cache_type_k": "--cache-type-k",
    "cache_type_v": "--cache-type-v",
    "min_speed": "--min-speed",
    "gpu": "--gpu",
    "rpc": "--rpc",
    "for": "--for",
    "network_bandwidth": "--network-bandwidth",
    "network_latency": "--network-latency",
    "quality_floor": "--quality-floor",
    "gpu_bandwidth": "--gpu-bandwidth",
    "ram_bandwidth": "--ram-bandwidth",
}


@dataclass(frozen=True)
class Rendered:
    exit_code: int
    code: str
    message: str
    hint: str | None


def render(exc: QuantpickError) -> Rendered:
    exit_code = next(EXIT_CODES[cls] for cls in type(exc).__mro__ if cls in EXIT_CODES)
    message, hint = exc.message, exc.hint
    if isinstance(exc, InvalidValue) and exc.field is not None:
        message = f"{FLAGS.get(exc.field, exc.field)}: {message}"
    if isinstance(exc, NoFitError) and exc.details:
        hint = _no_fit_hint(exc.details) or hint
    return Rendered(exit_code, exc.code, message, hint)


def _no_fit_hint(details: dict[str, object]) -> str | None:
    from quantpick.sizes import format_size

    hints = []
    ctx = details.get("fitting_ctx")
    if isinstance(ctx, int):
        hints.append(f"--ctx {ctx} would fit")
    missing = details.get("missing_bytes")
    if isinstance(missing, int) and missing > 0:
        hints.append(f"{format_size(missing)} more memory would fit it")
    if details.get("mode") == "speed":
        hints.append("--mode quality splits the model between GPU and RAM")
    return "; ".join(hints) or None
