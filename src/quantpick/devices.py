"""Memory bandwidth of GPUs and Apple chips whose probe gives none, from data/gpu_bandwidth.yaml.

`parse_device_table` and `bandwidth_for` are pure; `load_device_table` reads the shipped file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from quantpick.hardware import Hardware


@dataclass(frozen=True)
class DeviceFigure:
    name: str
    gbps: float
    source: str


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
            figures.append(DeviceFigure(name, float(gbps), str(cited)))
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


def load_device_table() -> list[DeviceFigure]:
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
