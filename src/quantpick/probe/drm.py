"""AMD (amdgpu) and Intel (xe) GPUs from sysfs: no ROCm or vendor tools needed."""

from __future__ import annotations

import re
from pathlib import Path

from quantpick.hardware import Gpu
from quantpick.probe._files import read_text

AMD, INTEL = "0x1002", "0x8086"
_CARD = re.compile(r"^card(\d+)$")


def _number(path: Path) -> int | None:
    text = read_text(path)
    if not text:
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None


def _amd(card: str, device: Path) -> Gpu | None:
    vram = _number(device / "mem_info_vram_total")
    if vram is None:
        return None
    used = _number(device / "mem_info_vram_used") or 0
    gtt = _number(device / "mem_info_gtt_total") or 0
    name = read_text(device / "product_name") or f"AMD GPU ({card})"
    discrete = (device / "mem_info_vram_vendor").exists() or (device / "board_info").exists()
    integrated = not discrete and vram <= 4 * 1024**3 and gtt >= 8 * 1024**3 and gtt >= 4 * vram
    if integrated:
        # APU: the carve-out and GTT both come out of DRAM; GTT is part of the RAM the OS reports.
        return Gpu(
            "amd",
            name,
            vram + gtt,
            None,
            vram + gtt,
            "sysfs mem_info_vram_total + mem_info_gtt_total (APU)",
            shared_with_ram_bytes=gtt,
            unified=True,
        )
    return Gpu("amd", name, vram, max(vram - used, 0), vram, "sysfs mem_info_vram_total")


def _intel(card: str, device: Path) -> Gpu | None:
    total = 0
    for tile in sorted(device.glob("tile*")):
        size = _number(tile / "physical_vram_size_bytes") or _number(tile / "memory" / "physical_vram_size_bytes")
        total += size or 0
    if not total:
        return None  # integrated, or i915 without a VRAM file: nothing reliable to report
    return Gpu("intel", f"Intel GPU ({card})", total, None, total, "sysfs tile*/physical_vram_size_bytes (xe)")


def _card_number(path: Path) -> int:
    match = _CARD.match(path.name)
    return int(match[1]) if match else 0


def probe_drm(root: Path, warnings: list[str]) -> list[Gpu]:
    drm = root / "sys" / "class" / "drm"
    try:
        cards = sorted((p for p in drm.iterdir() if _CARD.match(p.name)), key=_card_number)
    except OSError:
        return []
    gpus: list[Gpu] = []
    for card in cards:
        device = card / "device"
        vendor = (read_text(device / "vendor") or "").lower()
        try:
            gpu = _amd(card.name, device) if vendor == AMD else _intel(card.name, device) if vendor == INTEL else None
        except OSError as exc:
            warnings.append(f"{card.name}: could not read sysfs ({exc})")
            continue
        if gpu is not None:
            gpu.index = len(gpus)
            gpus.append(gpu)
    return gpus
