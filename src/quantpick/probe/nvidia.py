"""NVIDIA GPUs through NVML (nvidia-ml-py's `pynvml`), honouring CUDA_VISIBLE_DEVICES, MIG and unified memory."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from quantpick.hardware import Gpu, Ram


def _opt(call: Callable[..., Any], *args: Any) -> Any:
    try:
        return call(*args)
    except Exception:  # optional queries: NotSupported, FunctionNotFound, old drivers
        return None


def _memory(nvml: Any, handle: Any) -> tuple[int | None, int | None, int | None, str]:
    """(total, free, reserved, source): v2 first, v1 on drivers without it; Nones when NOT_SUPPORTED."""
    try:
        info = nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
        return int(info.total), int(info.free), int(info.reserved), "nvml v2 (total - reserved)"
    except (nvml.NVMLError_FunctionNotFound, nvml.NVMLError_ArgumentVersionMismatch, TypeError):
        pass
    except (nvml.NVMLError_NotSupported, nvml.NVMLError_NoPermission):
        return None, None, None, "nvml: memory query not supported"
    try:
        info = nvml.nvmlDeviceGetMemoryInfo(handle)
        return int(info.total), int(info.free), None, "nvml v1 (total)"
    except (nvml.NVMLError_NotSupported, nvml.NVMLError_NoPermission):
        return None, None, None, "nvml: memory query not supported"


def _bandwidth(nvml: Any, handle: Any) -> float | None:
    clock = _opt(nvml.nvmlDeviceGetMaxClockInfo, handle, nvml.NVML_CLOCK_MEM)
    width = _opt(nvml.nvmlDeviceGetMemoryBusWidth, handle)
    if not clock or not width:
        return None
    return round(float(clock) * 1e6 * 2 * (float(width) / 8) / 1e9, 1)


def _describe(
    nvml: Any, handle: Any, index: int, ram: Ram, driver: str | None, *, name: str | None = None, parent: Any = None
) -> Gpu:
    total, free, reserved, source = _memory(nvml, handle)
    cc = _opt(nvml.nvmlDeviceGetCudaComputeCapability, handle if parent is None else parent)
    gpu = Gpu(
        vendor="nvidia",
        name=name or _opt(nvml.nvmlDeviceGetName, handle) or f"NVIDIA GPU {index}",
        total_bytes=total,
        free_bytes=free,
        budget_bytes=(total - (reserved or 0)) if total is not None else None,
        source=source,
        index=index,
        uuid=_opt(nvml.nvmlDeviceGetUUID, handle),
        reserved_bytes=reserved,
        compute_capability=f"{cc[0]}.{cc[1]}" if cc else None,
        bandwidth_gbps=_bandwidth(nvml, handle if parent is None else parent),
        driver_version=driver,
        mig=parent is not None,
    )
    if total is None:
        # GB10 / Grace / Jetson: the GPU uses system RAM; its budget is the RAM, counted once.
        gpu.unified = True
        gpu.source = "nvml memory NOT_SUPPORTED: unified memory, budget = system RAM"
    elif parent is not None and gpu.bandwidth_gbps:
        parent_total = _memory(nvml, parent)[0]
        if parent_total:
            gpu.bandwidth_gbps = round(gpu.bandwidth_gbps * total / parent_total, 1)
    return gpu


def _mig_instances(nvml: Any, handle: Any, index: int, ram: Ram, driver: str | None) -> list[Gpu]:
    mode = _opt(nvml.nvmlDeviceGetMigMode, handle)
    if not mode or int(mode[0]) != getattr(nvml, "NVML_DEVICE_MIG_ENABLE", 1):
        return []
    parent_name = _opt(nvml.nvmlDeviceGetName, handle) or f"NVIDIA GPU {index}"
    count = _opt(nvml.nvmlDeviceGetMaxMigDeviceCount, handle) or 0
    instances = []
    for slot in range(count):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
        except nvml.NVMLError:
            continue  # empty slot (NOT_FOUND)
        name = _opt(nvml.nvmlDeviceGetName, mig) or f"{parent_name} MIG {slot}"
        if parent_name not in name:
            name = f"{parent_name} MIG {name}"
        instances.append(_describe(nvml, mig, index, ram, driver, name=name, parent=handle))
    return instances


def filter_visible(gpus: list[Gpu], visible: str | None, warnings: list[str]) -> list[Gpu]:
    """Apply CUDA_VISIBLE_DEVICES as the CUDA runtime does: ordinals or UUID prefixes, stop at the first bad one."""
    if visible is None:
        return gpus
    chosen: list[Gpu] = []
    for token in (t.strip() for t in visible.split(",")):
        if not token:
            break
        if token.isdigit():
            wanted = int(token)
            physical = sorted({g.index for g in gpus if g.index is not None})
            if wanted >= len(physical):
                warnings.append(
                    f"CUDA_VISIBLE_DEVICES names GPU {wanted}, which does not exist: ignored it and the rest"
                )
                break
            chosen.extend(g for g in gpus if g.index == physical[wanted] and g not in chosen)
        else:
            matches = [g for g in gpus if g.uuid and g.uuid.startswith(token)]
            if not matches:
                warnings.append(f"CUDA_VISIBLE_DEVICES entry {token!r} matches no GPU: ignored it and the rest")
                break
            chosen.extend(g for g in matches if g not in chosen)
    return chosen


def probe_nvidia(nvml: Any, ram: Ram, warnings: list[str], *, env: Mapping[str, str]) -> list[Gpu]:
    if nvml is None:
        try:
            import pynvml

            nvml = pynvml
        except ImportError:
            warnings.append("NVIDIA: nvidia-ml-py is not installed, NVIDIA GPUs are not probed")
            return []
    try:
        nvml.nvmlInit()
    except nvml.NVMLError_LibraryNotFound:
        return []  # no NVIDIA driver on this machine: the normal case without a GPU, nothing to warn about
    except nvml.NVMLError_DriverNotLoaded:
        warnings.append("NVIDIA: the library is installed but the kernel driver is not loaded; no GPU counted")
        return []
    except nvml.NVMLError as exc:
        warnings.append(f"NVIDIA: NVML could not start ({exc}); no GPU counted")
        return []
    except OSError as exc:
        warnings.append(f"NVIDIA: NVML could not be loaded ({exc}); no GPU counted")
        return []
    try:
        driver = _opt(nvml.nvmlSystemGetDriverVersion)
        gpus: list[Gpu] = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            gpus.extend(
                _mig_instances(nvml, handle, index, ram, driver) or [_describe(nvml, handle, index, ram, driver)]
            )
        return filter_visible(gpus, env.get("CUDA_VISIBLE_DEVICES"), warnings)
    except nvml.NVMLError as exc:
        warnings.append(f"NVIDIA: NVML query failed ({exc}); no GPU counted")
        return []
    finally:
        with contextlib.suppress(Exception):  # only reached after a successful init; nothing to report
            nvml.nvmlShutdown()
