"""Apple Silicon: unified memory; the GPU may use Metal's recommended working set."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from quantpick.hardware import Gpu, Ram

GiB = 1024**3


def sysctl(name: str) -> str | None:
    try:
        done = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def metal_working_set() -> int | None:
    """MTLDevice.recommendedMaxWorkingSetSize through the Objective-C runtime (what llama.cpp reports)."""
    import ctypes

    try:
        objc = ctypes.CDLL("/usr/lib/libobjc.dylib")
        ctypes.CDLL("/System/Library/Frameworks/CoreGraphics.framework/CoreGraphics")
        metal = ctypes.CDLL("/System/Library/Frameworks/Metal.framework/Metal")
    except OSError:
        return None
    metal.MTLCreateSystemDefaultDevice.restype = ctypes.c_void_p
    objc.sel_registerName.restype = ctypes.c_void_p
    objc.sel_registerName.argtypes = [ctypes.c_char_p]
    device = metal.MTLCreateSystemDefaultDevice()
    if not device:
        return None
    address = ctypes.cast(objc.objc_msgSend, ctypes.c_void_p).value
    if address is None:
        return None
    send_u64 = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p)(address)
    send_void = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(address)
    try:
        return int(send_u64(device, objc.sel_registerName(b"recommendedMaxWorkingSetSize")))
    finally:
        send_void(device, objc.sel_registerName(b"release"))


def apple_gpu_budget(
    total: int,
    run: Callable[[str], str | None] = sysctl,
    metal: Callable[[], int | None] = metal_working_set,
) -> tuple[int, str]:
    """Metal's working set, else iogpu.wired_limit_mb when set (0 = default), else 2/3 up to 36 GiB, 3/4 above."""
    try:
        working_set = metal()
    except (OSError, AttributeError, TypeError, ValueError):  # no Metal framework, or an older one
        working_set = None
    if working_set:
        return int(working_set), "Metal recommendedMaxWorkingSetSize"
    wired = run("iogpu.wired_limit_mb")
    if wired and wired.isdigit() and int(wired) > 0:
        return min(int(wired) * 1024**2, total), "sysctl iogpu.wired_limit_mb"
    share = 2 / 3 if total <= 36 * GiB else 3 / 4
    return int(total * share), f"{'2/3' if share < 0.7 else '3/4'} of unified memory (macOS default rule)"


def probe_apple(
    ram: Ram,
    *,
    run: Callable[[str], str | None] | None = None,
    metal: Callable[[], int | None] | None = None,
    warnings: list[str],
) -> Gpu | None:
    run = run or sysctl
    metal = metal or metal_working_set
    if (run("hw.optional.arm64") or "0") != "1":
        return None  # an Intel Mac: no Metal budget worth planning for
    memsize = run("hw.memsize")
    total = int(memsize) if memsize and memsize.isdigit() else ram.host_total_bytes or ram.total_bytes
    budget, source = apple_gpu_budget(total, run, metal)
    name = run("machdep.cpu.brand_string") or "Apple Silicon GPU"
    return Gpu("apple", name, total, None, budget, source, index=0, shared_with_ram_bytes=budget, unified=True)
