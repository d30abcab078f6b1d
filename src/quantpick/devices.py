"""Memory bandwidth of GPUs and Apple chips whose probe gives none, from data/gpu_bandwidth.yaml.

`parse_device_table` and `bandwidth_for` are pure; `load_device_table` reads the shipped file.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, replace
from pathlib import Path

from quantpick.errors import InvalidValue
from quantpick.hardware import Gpu, Hardware, unified_metal_gpu
from quantpick.states import BACKENDS, Backend, Vendor

GiB = 1024**3
_COUNT = re.compile(r"^\s*(\d{1,2})\s*[x\u00d7]\s*(.+)$", re.IGNORECASE)
_MEMORY = re.compile(r"^(.*?)\s*(\d{1,4}(?:\.\d+)?)\s*(?:GB|GIB|G)\s*$", re.IGNORECASE)
_VENDOR_WORDS = {"NVIDIA", "GEFORCE", "AMD", "RADEON", "APPLE"}


@dataclass(frozen=True)
class DeviceFigure:
    name: str
    gbps: float
    source: str
    memory_gb: float | None = None  # GPUs: their memory, for --gpu presets; Apple chips: None (the preset names it)
    backend: Backend | None = None


def parse_device_table(data: object) -> list[DeviceFigure]:
    """The table's entries; malformed ones are skipped (the file is shipped, but it is input all the same)."""
    if not isinstance(data, dict):
        return []
    sources = data.get("sources") if isinstance(data.get("sources"), dict) else {}
    entries = data.get("devices")
    figures = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        name, gbps, source = entry.get("name"), entry.get("gbps"), entry.get("source")
        if isinstance(name, str) and isinstance(gbps, (int, float)) and 0 < gbps <= 100_000:
            cited = sources.get(source, source) if isinstance(sources, dict) else source
            memory = entry.get("memory_gb")
            memory = float(memory) if isinstance(memory, (int, float)) and 0 < memory <= 100_000 else None
            backend = next((b for b in BACKENDS if b == entry.get("backend")), None)
            if backend is None and str(cited).startswith("Apple"):
                backend = "metal"
            figures.append(DeviceFigure(name, float(gbps), str(cited), memory, backend))
    return figures


def bandwidth_for(name: str, table: list[DeviceFigure]) -> DeviceFigure | None:
    """The longest entry whose name is a whole-word part of `name`, case-insensitive."""
    words = f" {name.upper().replace('-', ' ')} "
    matches = [f for f in table if f" {f.name.upper()} " in words]
    return max(matches, key=lambda f: len(f.name)) if matches else None


def default_table_path() -> Path:
    packaged = Path(__file__).resolve().parent / "data" / "gpu_bandwidth.yaml"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "data" / "gpu_bandwidth.yaml"


@functools.cache
def load_device_table() -> list[DeviceFigure]:
    """The shipped table, parsed once per process (a preset, the head and each worker may all need it)."""
    import yaml

    try:
        return parse_device_table(yaml.safe_load(default_table_path().read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError):
        return []


def with_table_bandwidths(hw: Hardware, table: list[DeviceFigure]) -> Hardware:
    """`hw` with each GPU that has no bandwidth given the table's figure for its name, when there is one."""
    gpus = []
    for gpu in hw.gpus:
        figure = bandwidth_for(gpu.name, table) if gpu.bandwidth_gbps is None else None
        if figure is not None:
            source = f"data/gpu_bandwidth.yaml, {figure.name}: {figure.source}"
            gpus.append(replace(gpu, bandwidth_gbps=figure.gbps, bandwidth_source=source))
        else:
            gpus.append(gpu)
    return replace(hw, gpus=gpus)


@dataclass(frozen=True)
class Preset:
    figure: DeviceFigure
    count: int
    memory_bytes: int  # per GPU; for an Apple chip, the Mac's unified memory


def _words(text: str) -> str:
    return " ".join(w for w in text.upper().replace("-", " ").split() if w not in _VENDOR_WORDS)


def _short(name: str) -> str:
    words = _words(name).split()
    return " ".join(words[1:]) if words and words[0] in ("RTX", "RX", "GTX") else " ".join(words)


def parse_preset(text: str, table: list[DeviceFigure]) -> Preset:
    """`RTX 4090`, `2x3090`, `RX 7900 XTX`, `M3 Max 64GB`: the table's device, how many, and their memory."""
    count, rest = 1, text.strip()
    counted = _COUNT.match(rest)
    if counted:
        count, rest = int(counted.group(1)), counted.group(2)
    memory_gb: float | None = None
    sized = _MEMORY.match(rest)
    if sized and sized.group(1).strip():
        rest, memory_gb = sized.group(1), float(sized.group(2))
    wanted = _words(rest)
    matches = [f for f in table if wanted in (_words(f.name), _short(f.name))]
    if not matches or not 1 <= count <= 16:
        names = [f.name for f in table]
        close = difflib.get_close_matches(rest.strip(), names, n=3, cutoff=0.3) or names[:3]
        why = f"unknown GPU {text.strip()[:40]!r}" if not matches else f"{count} GPUs: 1 to 16"
        raise InvalidValue("gpu", why, hint=f"closest: {', '.join(close)}; forms: RTX 4090, 2x3090, M3 Max 64GB")
    figure = max(matches, key=lambda f: len(f.name))
    if figure.memory_gb is None and memory_gb is None:
        raise InvalidValue(
            "gpu", f"{figure.name} comes with several memory sizes", hint=f"name it, e.g. {figure.name} 64GB"
        )
    memory = memory_gb if memory_gb is not None else figure.memory_gb or 0
    return Preset(figure, count, int(memory * GiB))


def with_preset(hw: Hardware, preset: Preset) -> Hardware:
    """`hw` with its GPUs replaced by the preset's (an Apple chip: the Mac's unified memory as RAM too)."""
    from quantpick.hardware import Ram

    figure = preset.figure
    source = f"--gpu {figure.name}: {figure.source}"
    if figure.backend == "metal":
        gpu = replace(unified_metal_gpu(preset.memory_bytes, None), name=f"Apple {figure.name}")
        gpu = replace(gpu, bandwidth_gbps=figure.gbps, bandwidth_source=source)
        ram = Ram(preset.memory_bytes, preset.memory_bytes, f"--gpu {figure.name} (unified memory)")
        return replace(hw, gpus=[gpu], ram=ram, backend="metal", backend_source="--gpu")
    vendor: Vendor = "amd" if figure.backend == "rocm" else "nvidia"
    gpus = [
        Gpu(
            vendor,
            figure.name,
            preset.memory_bytes,
            preset.memory_bytes,
            preset.memory_bytes,
            source,
            index=i,
            bandwidth_gbps=figure.gbps,
            bandwidth_source=source,
        )
        for i in range(preset.count)
    ]
    return replace(hw, gpus=gpus, backend=figure.backend or "cuda", backend_source="--gpu")
