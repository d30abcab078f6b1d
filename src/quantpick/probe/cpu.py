"""CPU model, cores and the instruction-set flags that matter for GGUF kernels."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path

from quantpick.hardware import Cpu
from quantpick.probe._files import read_text

SIZE_UNITS = {"K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024}

# flag name in quantpick -> tokens in /proc/cpuinfo (x86 "flags", arm64 "Features")
LINUX_FLAGS = {
    "avx2": ("avx2",),
    "avx512f": ("avx512f",),
    "avx512_vnni": ("avx512_vnni",),
    "f16c": ("f16c",),
    "fma": ("fma",),
    "amx": ("amx_int8", "amx_tile"),
    "neon": ("asimd", "neon"),
    "dotprod": ("asimddp",),
    "i8mm": ("i8mm",),
    "sve": ("sve",),
    "hypervisor": ("hypervisor",),  # a guest: the caches sysfs shows are the host's, shared with other tenants
}
DARWIN_FLAGS = {
    "avx2": "hw.optional.avx2_0",
    "avx512f": "hw.optional.avx512f",
    "avx512_vnni": "hw.optional.avx512vnni",
    "f16c": "hw.optional.f16c",
    "fma": "hw.optional.fma",
    "neon": "hw.optional.neon",
    "dotprod": "hw.optional.arm.FEAT_DotProd",
    "i8mm": "hw.optional.arm.FEAT_I8MM",
}


def parse_cpuinfo(text: str) -> Cpu:
    """Model and flags from the first processor block of /proc/cpuinfo; cores counted over all blocks."""
    model, tokens, logical, cores = None, set(), 0, set()
    physical_id = core_id = None
    first_block = True
    for line in text.splitlines():
        if not line.strip():
            if physical_id is not None or core_id is not None:
                cores.add((physical_id, core_id))
            physical_id = core_id = None
            first_block = False if logical else first_block
            continue
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "processor":
            logical += 1
        elif key in ("model name", "Model", "Hardware", "cpu model") and model is None:
            model = value
        elif key in ("flags", "Features") and first_block:
            tokens.update(value.split())
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            core_id = value
    if physical_id is not None or core_id is not None:
        cores.add((physical_id, core_id))
    flags = {name: any(t in tokens for t in alias) for name, alias in LINUX_FLAGS.items()}
    return Cpu(model=model, physical_cores=len(cores) or None, logical_cores=logical or None, flags=flags)


def probe_cpu(root: Path, *, system: str, run: Callable[[str], str | None] | None = None) -> Cpu:
    arch = platform.machine() or None
    if system == "Darwin":
        from quantpick.probe.apple import sysctl

        run = run or sysctl
        flags = {name: run(key) == "1" for name, key in DARWIN_FLAGS.items()}
        logical = run("hw.logicalcpu")
        physical = run("hw.physicalcpu")
        return Cpu(
            model=run("machdep.cpu.brand_string"),
            arch=arch,
            physical_cores=int(physical) if physical and physical.isdigit() else None,
            logical_cores=int(logical) if logical and logical.isdigit() else None,
            flags=flags,
        )
    try:
        text = (root / "proc" / "cpuinfo").read_text(errors="replace")
    except OSError:
        return Cpu(arch=arch, logical_cores=os.cpu_count())
    cpu = parse_cpuinfo(text)
    cpu.arch = arch
    cpu.logical_cores = cpu.logical_cores or os.cpu_count()
    cpu.cache_bytes, cpu.cache_source = weights_cache(read_caches(root), guest=cpu.has("hypervisor"))
    return cpu


def read_caches(root: Path) -> dict[int, int]:
    """Bytes of data cache at each level >= 2, summed over distinct instances (sysfs cpu*/cache/index*)."""
    seen: dict[tuple[int, str], int] = {}
    for index in sorted((root / "sys" / "devices" / "system" / "cpu").glob("cpu[0-9]*/cache/index[0-9]*")):
        level, kind = read_text(index / "level"), read_text(index / "type")
        size, shared = parse_size(read_text(index / "size")), read_text(index / "shared_cpu_list")
        if not (level and level.isdigit()) or int(level) < 2 or kind not in ("Data", "Unified") or not size:
            continue
        seen[(int(level), shared or str(index.parent.parent.name))] = size
    levels: dict[int, int] = {}
    for (depth, _), size in seen.items():
        levels[depth] = levels.get(depth, 0) + size
    return levels


def parse_size(text: str | None) -> int | None:
    """'2048K' -> 2097152; sysfs writes cache sizes in KiB with a unit letter."""
    if not text:
        return None
    unit = SIZE_UNITS.get(text[-1].upper(), 1)
    digits = text[:-1] if text[-1].upper() in SIZE_UNITS else text
    return int(digits) * unit if digits.isdigit() and int(digits) < 1 << 40 else None


def weights_cache(levels: dict[int, int], *, guest: bool) -> tuple[int | None, str | None]:
    """The CPU cache a token's weights can stay in between tokens, and why.

    The L2s and the last level together on a machine of one's own; a guest counts its L2s only, as the host's
    last-level cache it is shown is shared with tenants it cannot see (this project's 2-vCPU VM is shown 480 MiB
    of L3, yet reads slow to RAM speed past 64 MiB: bench/speed/results.md).
    """
    l2 = levels.get(2, 0)
    last = sum(size for level, size in levels.items() if level >= 3)
    if not l2 and not last:
        return None, None
    if guest:
        return (l2, "sysfs L2s; a VM's L3 is the host's, shared: not counted") if l2 else (None, None)
    named = " + ".join(f"L{level}" for level in sorted(levels) if levels[level])
    return l2 + last, f"sysfs {named}"
