"""A fake `pynvml` module: the real binding's exception classes and constants, fake device functions."""

from __future__ import annotations

from types import SimpleNamespace

import pynvml as real

GiB = 1024**3


def make_fake_nvml(devices: list[dict], *, init_error: int | None = None, has_v2: bool = True):
    fake = SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if k.startswith(("NVMLError", "NVML_"))})
    fake.nvmlMemory_v2 = real.nvmlMemory_v2
    fake.calls = []
    fake.initialised = False

    def error(code):
        return real.NVMLError(code)

    def init():
        fake.calls.append("init")
        if init_error is not None:
            raise error(init_error)
        fake.initialised = True

    def shutdown():
        fake.calls.append("shutdown")
        if not fake.initialised:
            raise error(real.NVML_ERROR_UNINITIALIZED)
        fake.initialised = False

    def device(handle):
        return handle if isinstance(handle, dict) else devices[handle]

    def memory(handle, version=None):
        dev = device(handle)
        if dev.get("not_supported"):
            raise error(real.NVML_ERROR_NOT_SUPPORTED)
        if version is not None:
            if not has_v2:
                raise error(real.NVML_ERROR_FUNCTION_NOT_FOUND)
            return SimpleNamespace(
                version=version,
                total=dev["total"],
                reserved=dev.get("reserved", 0),
                free=dev.get("free", dev["total"]),
                used=0,
            )
        return SimpleNamespace(total=dev["total"], free=dev.get("free", dev["total"]), used=0)

    def mig_mode(handle):
        dev = device(handle)
        if "migs" not in dev:
            raise error(real.NVML_ERROR_NOT_SUPPORTED)
        return [real.NVML_DEVICE_MIG_ENABLE, real.NVML_DEVICE_MIG_ENABLE]

    def mig_handle(handle, slot):
        migs = device(handle)["migs"]
        if slot >= len(migs) or migs[slot] is None:
            raise error(real.NVML_ERROR_NOT_FOUND)
        return migs[slot]

    def optional(key, default=None):
        def call(handle, *args):
            value = device(handle).get(key, default)
            if value is None:
                raise error(real.NVML_ERROR_NOT_SUPPORTED)
            return value

        return call

    fake.nvmlInit = init
    fake.nvmlShutdown = shutdown
    fake.nvmlDeviceGetCount = lambda: len(devices)
    fake.nvmlDeviceGetHandleByIndex = lambda i: i
    fake.nvmlDeviceGetName = optional("name", "NVIDIA Test GPU")
    fake.nvmlDeviceGetUUID = optional("uuid", "GPU-00000000-0000-0000-0000-000000000000")
    fake.nvmlDeviceGetMemoryInfo = memory
    fake.nvmlDeviceGetCudaComputeCapability = optional("cc", (8, 9))
    fake.nvmlDeviceGetMaxClockInfo = optional("mem_clock", 10501)
    fake.nvmlDeviceGetMemoryBusWidth = optional("bus_width", 384)
    fake.nvmlSystemGetDriverVersion = lambda: "580.95.05"
    fake.nvmlDeviceGetMigMode = mig_mode
    fake.nvmlDeviceGetMaxMigDeviceCount = lambda h: len(device(h).get("migs", []))
    fake.nvmlDeviceGetMigDeviceHandleByIndex = mig_handle
    return fake


RTX_4090 = {
    "name": "NVIDIA GeForce RTX 4090",
    "total": 24564 * 1024**2,
    "free": 24000 * 1024**2,
    "reserved": 330 * 1024**2,
    "uuid": "GPU-aaaa1111",
    "cc": (8, 9),
    "mem_clock": 10501,
    "bus_width": 384,
}
RTX_3060 = {
    "name": "NVIDIA GeForce RTX 3060",
    "total": 12288 * 1024**2,
    "free": 12000 * 1024**2,
    "reserved": 250 * 1024**2,
    "uuid": "GPU-bbbb2222",
    "cc": (8, 6),
    "mem_clock": 7501,
    "bus_width": 192,
}
