"""Read this machine: RAM (container-aware), GPUs of every vendor, CPU features.

Every reader takes its file-system root (or module, or command runner) as an argument so the tests
can build any machine; `probe_hardware()` wires the real ones. No reader raises: what fails becomes
a warning in the result.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from quantpick.hardware import Gpu, Hardware
from quantpick.probe.apple import probe_apple
from quantpick.probe.cpu import probe_cpu
from quantpick.probe.drm import probe_drm
from quantpick.probe.nvidia import probe_nvidia
from quantpick.probe.ram import probe_ram
from quantpick.states import Backend


def guess_backend(gpus: list[Gpu], system: str) -> Backend:
    vendors = {g.vendor for g in gpus}
    if "nvidia" in vendors:
        return "cuda"
    if "apple" in vendors:
        return "metal"
    if any(g.vendor == "amd" and not g.shared_with_ram_bytes for g in gpus):
        return "rocm"
    return "cpu"


def probe_hardware(
    *,
    root: str | Path = "/",
    nvml: Any = None,
    system: str | None = None,
    run: Callable[[str], str | None] | None = None,
    metal: Callable[[], int | None] | None = None,
    env: Mapping[str, str] | None = None,
) -> Hardware:
    """Probe the machine. `root` relocates /proc and /sys; `nvml`, `run`, `metal` and `env` replace
    the NVML module, the sysctl runner, the Metal query and os.environ."""
    import os

    system = system or platform.system()
    env = os.environ if env is None else env
    root = Path(root)
    warnings: list[str] = []
    ram = probe_ram(root, warnings, system=system)
    gpus: list[Gpu] = []
    if system == "Darwin":
        apple_gpu = probe_apple(ram, run=run, metal=metal, warnings=warnings)
        if apple_gpu is not None:
            gpus.append(apple_gpu)
    else:
        gpus.extend(probe_nvidia(nvml, ram, warnings, env=env))
        gpus.extend(probe_drm(root, warnings))
    cpu = probe_cpu(root, system=system, run=run)
    backend = guess_backend(gpus, system)
    return Hardware(ram=ram, gpus=gpus, cpu=cpu, backend=backend, backend_source="probe", warnings=warnings)


__all__ = ["probe_hardware", "guess_backend", "sys"]
