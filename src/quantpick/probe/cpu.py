"""CPU model, cores and the instruction-set flags that matter for GGUF kernels."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path

from quantpick.hardware import Cpu

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
    return cpu
