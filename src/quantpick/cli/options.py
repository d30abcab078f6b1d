"""Flags shared by several commands, defined once, and their conversion into the service's inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from quantpick.cli.output import Output
    from quantpick.hardware import Hardware
    from quantpick.rules import Options

# JSON mode is decided once, by the root command from the arguments (quantpick.cli.output.json_requested);
# the flag is declared here for parsing and --help only.
JsonOpt = Annotated[
    bool, typer.Option("--json", expose_value=False, help="Print one JSON document on stdout (schema_version 1).")
]
REPO_HELP = (
    "Hub repo: OWNER/NAME, OWNER/NAME:QUANT (as llama.cpp's -hf), hf.co/OWNER/NAME, or a huggingface.co URL "
    "(a /blob/ or /resolve/ file URL names its quant), e.g. bartowski/Qwen_Qwen3-8B-GGUF:Q4_K_M."
)
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", expose_value=False, help="Print only the data, warnings and errors (no progress, no hints)."
    ),
]
RepoArg = Annotated[str, typer.Argument(metavar="REPO", help=REPO_HELP, show_default=False)]
RevisionOpt = Annotated[
    str | None, typer.Option("--revision", "-r", metavar="REV", help="Branch, tag or commit (default: main).")
]
ModeOpt = Annotated[
    str,
    typer.Option(
        "--mode",
        metavar="MODE",
        help="auto (best quality at --min-speed) | speed (the fastest) | quality (the best that fits).",
    ),
]
CtxOpt = Annotated[
    int | None,
    typer.Option(
        "--ctx",
        "-c",
        metavar="TOKENS",
        help="Total context in tokens, as llama-server's -c, shared by its slots (default: 8192, or the model's "
        "trained context when that is shorter).",
        show_default=False,
    ),
]
ReserveOpt = Annotated[
    str | None,
    typer.Option(
        "--reserve",
        metavar="SIZE",
        help="Memory to keep besides the weights (replaces the KV + overhead estimate), e.g. 1.5GiB.",
    ),
]
PreferOpt = Annotated[str, typer.Option("--prefer", metavar="FAMILY", help="auto | k (K-quants) | i (I-quants) | any.")]
VramOpt = Annotated[
    str | None,
    typer.Option(
        "--vram", metavar="SIZE", help="Plan for this much GPU memory (0 = no GPU; 24GiB,12GiB for two GPUs)."
    ),
]
RepoOnlyOpt = Annotated[
    bool,
    typer.Option(
        "--repo-only",
        help="Only this repo: no search for its GGUF quantizations when it has no GGUF files (the base model).",
    ),
]
GpuOpt = Annotated[
    str | None,
    typer.Option(
        "--gpu",
        metavar="NAME",
        help="Plan for this GPU from a sourced table: 'RTX 4090', 2x3090, 'RX 7900 XTX', 'M3 Max 64GB'.",
    ),
]
RamOpt = Annotated[str | None, typer.Option("--ram", metavar="SIZE", help="Plan for this much system RAM.")]
BackendOpt = Annotated[
    str | None, typer.Option("--backend", metavar="NAME", help="cuda | rocm | metal | vulkan | cpu.")
]
HardwareOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--hardware",
        metavar="FILE",
        help="Plan for the machine in a saved `quantpick probe --json` file; give it again for RPC workers "
        "(the first is the head).",
        show_default=False,
    ),
]
_CLUSTER = "Several machines (llama.cpp RPC)"
RpcOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--rpc",
        metavar="HOST:PORT=SIZE[@GBPS]",
        help="An rpc-server worker: its memory for the model, optionally its bandwidth (GB/s). Repeatable.",
        show_default=False,
        rich_help_panel=_CLUSTER,
    ),
]
NetworkBandwidthOpt = Annotated[
    float,
    typer.Option(
        "--network-bandwidth",
        metavar="GBIT",
        help="Network between the machines, Gbit/s (default 1: 1 GbE).",
        rich_help_panel=_CLUSTER,
    ),
]
NetworkLatencyOpt = Annotated[
    float,
    typer.Option(
        "--network-latency",
        metavar="MS",
        help="Round trip between the machines, ms (default 0.2: a LAN).",
        rich_help_panel=_CLUSTER,
    ),
]
QuantOpt = Annotated[
    str | None,
    typer.Option(
        "--quant", "-q", metavar="QUANT", help="Take this quant (e.g. Q4_K_M) instead of the recommended one."
    ),
]

_RUNNER = "Runner settings (llama-server's; the printed command sets the ones you change)"
ParallelOpt = Annotated[
    int | None,
    typer.Option(
        "--parallel",
        "-np",
        metavar="N",
        help="Slots (parallel sequences). Default: llama-server's auto, 4 slots sharing one unified KV cache; "
        "-np N gives N separate KV streams unless --kv-unified.",
        show_default=False,
        rich_help_panel=_RUNNER,
    ),
]
KvUnifiedOpt = Annotated[
    bool | None,
    typer.Option(
        "--kv-unified/--no-kv-unified",
        help="One KV cache shared by all slots (default: yes under auto slots, no with --parallel).",
        show_default=False,
        rich_help_panel=_RUNNER,
    ),
]
FlashAttnOpt = Annotated[
    str,
    typer.Option(
        "--flash-attn",
        "-fa",
        metavar="auto|on|off",
        help="Flash attention (auto turns it on).",
        rich_help_panel=_RUNNER,
    ),
]
UbatchOpt = Annotated[
    int,
    typer.Option(
        "--ubatch", "-ub", metavar="N", help="Micro-batch in tokens; sizes the compute buffer.", rich_help_panel=_RUNNER
    ),
]
_CACHE_TYPES = "f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0 or iq4_nl"
CacheTypeKOpt = Annotated[
    str,
    typer.Option(
        "--cache-type-k", "-ctk", metavar="TYPE", help=f"K cache type: {_CACHE_TYPES}.", rich_help_panel=_RUNNER
    ),
]
CacheTypeVOpt = Annotated[
    str,
    typer.Option(
        "--cache-type-v",
        "-ctv",
        metavar="TYPE",
        help=f"V cache type: {_CACHE_TYPES} (quantized needs flash attention).",
        rich_help_panel=_RUNNER,
    ),
]

_DECISION = "Decision (speed against quality)"
MinSpeedOpt = Annotated[
    float,
    typer.Option(
        "--min-speed",
        metavar="TOK/S",
        help="Auto mode: the best quality whose estimated generation speed reaches this (tokens/s).",
        rich_help_panel=_DECISION,
    ),
]
QualityFloorOpt = Annotated[
    str,
    typer.Option(
        "--quality-floor",
        metavar="QUANT",
        help="Never pick this type or worse while something better fits ('none' to allow all).",
        rich_help_panel=_DECISION,
    ),
]
GpuBandwidthOpt = Annotated[
    str | None,
    typer.Option(
        "--gpu-bandwidth",
        metavar="GBPS",
        help="GPU memory bandwidth in GB/s, a comma list for several GPUs (default: the probe's figure).",
        rich_help_panel=_DECISION,
    ),
]
RamBandwidthOpt = Annotated[
    float | None,
    typer.Option(
        "--ram-bandwidth",
        metavar="GBPS",
        help="System RAM bandwidth in GB/s (default: 51.2, dual-channel DDR4-3200).",
        rich_help_panel=_DECISION,
    ),
]


@dataclass(frozen=True)
class RepoTarget:
    repo: str
    revision: str | None
    quant: str | None
    file: str | None


def repo_target(text: str, revision: str | None = None, quant: str | None = None) -> RepoTarget:
    """REPO as pasted (id, shorthand or URL), merged with --revision and --quant; a conflict is a usage error."""
    from quantpick.errors import UsageError
    from quantpick.repo_ref import parse_repo_ref

    ref = parse_repo_ref(text)
    if ref.revision is not None and revision is not None and ref.revision != revision:
        raise UsageError(
            f"two revisions asked for: --revision {revision} and {ref.revision} in the URL", hint="give one of them"
        )
    if ref.quant is not None and quant is not None and ref.quant.upper() != quant.upper():
        raise UsageError(f"two quants asked for: --quant {quant} and :{ref.quant}", hint="give one of them")
    return RepoTarget(ref.repo, revision or ref.revision, quant or ref.quant, ref.file)


def output(ctx: typer.Context) -> Output:
    """The run's Output, made once by the root command (quantpick.cli.app)."""
    from quantpick.cli.output import Output

    root = ctx.find_root().obj
    return root if isinstance(root, Output) else Output(False)


def _floor(text: str) -> str | None:
    import difflib

    from quantpick.catalog import load_catalog
    from quantpick.errors import InvalidValue

    if text.lower() == "none":
        return None
    catalog = load_catalog()
    quant = catalog.get(text)
    if quant is None:
        close = difflib.get_close_matches(text.upper(), list(catalog.types), n=3)
        raise InvalidValue(
            "quality_floor", f"unknown quant type {text[:40]!r}", hint=f"e.g. {', '.join(close or ['IQ2_XS', 'Q2_K'])}"
        )
    return quant.name


def _bandwidths(text: str) -> tuple[float, ...]:
    from quantpick.errors import InvalidValue

    try:
        figures = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise InvalidValue(
            "gpu_bandwidth", f"not a bandwidth: {text[:40]!r}", hint="GB/s, e.g. 1008 or 936,448 for two GPUs"
        ) from None
    return figures


def machine(
    hardware: list[str] | str | None,
    vram: str | None,
    ram: str | None,
    backend: str | None,
    gpu: str | None = None,
    rpc: list[str] | None = None,
) -> Hardware:
    """The machine to plan for: the probe (or --hardware), with --vram/--ram/--backend applied."""
    from quantpick.service import resolve_hardware
    from quantpick.sizes import parse_size

    vram_bytes: int | list[int] | None = None
    if vram is not None:
        parts = [parse_size(part, field="vram") for part in vram.split(",")] if "," in vram else None
        vram_bytes = parts if parts is not None else parse_size(vram, field="vram")
    files = [hardware] if isinstance(hardware, str) else list(hardware or [])
    return resolve_hardware(
        files[0] if files else None,
        worker_files=files[1:],
        rpc_specs=list(rpc or []),
        vram_bytes=vram_bytes,
        ram_bytes=parse_size(ram, field="ram") if ram is not None else None,
        backend=backend,
        gpu_preset=gpu,
    )


@dataclass(frozen=True)
class PlanFlags:
    """The flags `recommend` and `get` share: the decision, llama-server's settings and the machine to plan for.
    Each field's annotation is its typer option, so with_plan_flags reads the flags from here, in --help order."""

    mode: ModeOpt = "auto"
    context: CtxOpt = None
    reserve: ReserveOpt = None
    prefer: PreferOpt = "auto"
    vram: VramOpt = None
    gpu: GpuOpt = None
    repo_only: RepoOnlyOpt = False
    rpc: RpcOpt = None
    network_bandwidth: NetworkBandwidthOpt = 1.0
    network_latency: NetworkLatencyOpt = 0.2
    ram: RamOpt = None
    backend: BackendOpt = None
    hardware: HardwareOpt = None
    parallel: ParallelOpt = None
    kv_unified: KvUnifiedOpt = None
    flash_attn: FlashAttnOpt = "auto"
    ubatch: UbatchOpt = 512
    cache_type_k: CacheTypeKOpt = "f16"
    cache_type_v: CacheTypeVOpt = "f16"
    min_speed: MinSpeedOpt = 5.0
    quality_floor: QualityFloorOpt = "IQ2_XS"
    gpu_bandwidth: GpuBandwidthOpt = None
    ram_bandwidth: RamBandwidthOpt = None

    def options(self, quant: str | None) -> Options:
        """The service's Options: every value checked, sizes and bandwidths parsed."""
        from quantpick.cluster import Network
        from quantpick.memory import RunnerSettings
        from quantpick.rules import Options
        from quantpick.sizes import parse_size
        from quantpick.states import FLASH_ATTN, MODES, PREFERENCES, choose

        runner = RunnerSettings(
            parallel=self.parallel,
            kv_unified=self.kv_unified,
            flash_attn=choose(self.flash_attn, FLASH_ATTN, "flash_attn"),
            ubatch=self.ubatch,
            cache_type_k=self.cache_type_k.lower(),
            cache_type_v=self.cache_type_v.lower(),
        )
        return Options(
            network=Network(self.network_bandwidth, self.network_latency),
            min_speed=self.min_speed,
            quality_floor=_floor(self.quality_floor),
            gpu_bandwidth_gbps=_bandwidths(self.gpu_bandwidth) if self.gpu_bandwidth is not None else None,
            ram_bandwidth_gbps=self.ram_bandwidth,
            mode=choose(self.mode, MODES, "mode"),
            ctx=self.context,
            reserve_bytes=parse_size(self.reserve, field="reserve") if self.reserve is not None else None,
            prefer=choose(self.prefer, PREFERENCES, "prefer"),
            quant=quant,
            runner=runner,
        )

    def machine(self) -> Hardware:
        return machine(self.hardware, self.vram, self.ram, self.backend, self.gpu, self.rpc)


def with_plan_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` the shared planning flags: typer sees them in place of its PlanFlags parameter, and the
    command receives them there as one PlanFlags. The flags are declared once, here."""
    import dataclasses
    import functools
    import inspect
    import typing

    hints = typing.get_type_hints(command, include_extras=True)
    own = inspect.signature(command)
    target = next(name for name, hint in hints.items() if hint is PlanFlags)
    options = typing.get_type_hints(PlanFlags, include_extras=True)
    names = [f.name for f in dataclasses.fields(PlanFlags)]
    defaults = PlanFlags()
    keyword = inspect.Parameter.KEYWORD_ONLY
    flags = [inspect.Parameter(n, keyword, default=getattr(defaults, n), annotation=options[n]) for n in names]
    parameters: list[inspect.Parameter] = []
    for parameter in own.parameters.values():
        if parameter.name == target:
            parameters += flags
        else:
            kind = inspect.Parameter.KEYWORD_ONLY if parameter.name != "ctx" else parameter.kind
            parameters.append(parameter.replace(kind=kind, annotation=hints.get(parameter.name, parameter.annotation)))

    @functools.wraps(command)
    def run(*args: object, **kwargs: object) -> None:
        plan = PlanFlags(**{name: kwargs.pop(name) for name in names})  # type: ignore[arg-type]
        command(*args, **{target: plan}, **kwargs)

    run.__signature__ = own.replace(parameters=parameters, return_annotation=None)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run
