"""Helpers several commands share: hardware resolution and option parsing."""

from __future__ import annotations

from quantpick.hardware import Hardware, apply_overrides, load_hardware_file
from quantpick.sizes import parse_size


def resolve_hardware(hardware_file: str | None, vram: str | None, ram: str | None, backend: str | None) -> Hardware:
    """The probe of this machine (or a saved one), with single figures overridden."""
    vram_bytes, ram_bytes = optional_size(vram), optional_size(ram)
    if hardware_file:
        hw = load_hardware_file(hardware_file)
    else:
        from quantpick.probe import probe_hardware

        hw = probe_hardware()
    return apply_overrides(hw, vram=vram_bytes, ram=ram_bytes, backend=backend)


def optional_size(text: str | None) -> int | None:
    return parse_size(text) if text is not None else None
