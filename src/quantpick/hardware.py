"""The machine a recommendation is for: memory figures with where each came from.

Built by the probe (quantpick.probe), read back from a saved `probe --json` file, and adjusted by
--vram/--ram/--backend. Pure data; the probe does the I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

from quantpick.errors import InvalidValue
from quantpick.sizes import GiB
from quantpick.states import BACKENDS, Backend, Vendor

_Record = TypeVar("_Record")


@dataclass
class Gpu:
    vendor: Vendor
    name: str
    total_bytes: int | None
    free_bytes: int | None
    budget_bytes: int | None  # what the GPU may hold for a model; None = unknown (unified: system RAM)
    source: str
    index: int | None = None
    uuid: str | None = None
    reserved_bytes: int | None = None
    shared_with_ram_bytes: int = 0  # part of the budget that is system RAM too (APU GTT, Apple, GB10)
    unified: bool = False
    compute_capability: str | None = None
    bandwidth_gbps: float | None = None
    bandwidth_source: str | None = None  # where bandwidth_gbps came from; None: the probe
    rpc: str | None = None  # host:port of an rpc-server worker holding this device
    driver_version: str | None = None
    mig: bool = False


@dataclass
class Ram:
    total_bytes: int
    available_bytes: int
    source: str
    host_total_bytes: int | None = None
    cgroup_limit_bytes: int | None = None
    bandwidth_gbps: float | None = None  # measured by `probe --measure`, or from a saved hardware file
    bandwidth_source: str | None = None


@dataclass
class Cpu:
    model: str | None = None
    arch: str | None = None
    physical_cores: int | None = None
    logical_cores: int | None = None
    flags: dict[str, bool] = field(default_factory=dict)
    cache_bytes: int | None = None  # cache a token's weights can stay in between tokens (probe.cpu.weights_cache)
    cache_source: str | None = None

    def has(self, flag: str) -> bool:
        return bool(self.flags.get(flag))


@dataclass
class Hardware:
    ram: Ram
    gpus: list[Gpu]
    cpu: Cpu
    backend: Backend
    backend_source: str = "probe"
    warnings: list[str] = field(default_factory=list)
    source: str = "probe"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ram": asdict(self.ram),
            "gpus": [asdict(g) for g in self.gpus],
            "cpu": asdict(self.cpu),
            "backend": self.backend,
            "backend_source": self.backend_source,
            "warnings": list(self.warnings),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str) -> Hardware:
        def build(kind: type[_Record], raw: object) -> _Record:
            if not isinstance(raw, dict):
                raise TypeError(f"{kind.__name__.lower()} is not an object")
            fields = kind.__dataclass_fields__  # type: ignore[attr-defined]
            return kind(**{k: v for k, v in raw.items() if k in fields})

        return cls(
            ram=build(Ram, data["ram"]),
            gpus=[build(Gpu, g) for g in data.get("gpus") or []],
            cpu=build(Cpu, data.get("cpu") or {}),
            backend=data.get("backend") or "cpu",
            backend_source="file",
            warnings=list(data.get("warnings") or []),
            source=source,
        )

    def usable_ram_bytes(self) -> int:
        """System RAM a model may use: total (cgroup-clamped) minus what the OS and other programs keep."""
        return max(self.ram.total_bytes - os_reserve_bytes(self.ram.total_bytes), 0)


def os_reserve_bytes(total: int) -> int:
    """RAM left to the OS and the desktop: 10% of total, at least 1 GiB, at most 4 GiB."""
    return int(min(max(total * 0.10, 1 * GiB), 4 * GiB))


def apply_overrides(
    hw: Hardware,
    *,
    vram: int | list[int] | None = None,
    ram: int | None = None,
    backend: str | None = None,
) -> Hardware:
    """Replace single figures: --vram (0 = no GPU; a list for several GPUs), --ram, --backend."""
    gpus, notes = hw.gpus, list(hw.warnings)
    new_backend, backend_source = hw.backend, hw.backend_source
    if vram is not None:
        sizes = vram if isinstance(vram, list) else [vram]
        if sizes == [0]:
            gpus = []
            new_backend, backend_source = "cpu", "--vram 0"
        else:
            if 0 in sizes:
                raise InvalidValue("vram", "a GPU of 0 bytes in a list", hint="e.g. --vram 24GiB,12GiB")
            if len(sizes) == 1:
                gpus = [Gpu("override", "GPU (--vram)", sizes[0], sizes[0], sizes[0], "--vram", index=0)]
            else:
                gpus = [Gpu("override", f"GPU {i} (--vram)", v, v, v, "--vram", index=i) for i, v in enumerate(sizes)]
            if hw.backend == "cpu":
                new_backend, backend_source = "cuda", "assumed for --vram (set --backend to change)"
    new_ram = hw.ram
    if ram is not None:
        new_ram = Ram(ram, ram, "--ram")
    if backend is not None:
        new_backend, backend_source = _as_backend(backend), "--backend"  # raises for an unknown name
        if backend == "cpu":
            gpus = []
    if new_backend == "metal" and (vram is not None or ram is not None) and vram != 0:
        gpus = [unified_metal_gpu(new_ram.total_bytes, vram if isinstance(vram, int) else None)]
    return replace(hw, gpus=gpus, ram=new_ram, backend=new_backend, backend_source=backend_source, warnings=notes)


def unified_metal_gpu(total: int, vram: int | None) -> Gpu:
    """A Mac given by --ram/--vram: one pool of memory; the GPU may wire part of it, counted once."""
    if vram is not None:
        budget, source = min(vram, total), "--vram (unified memory, part of --ram)"
    else:
        share = 2 / 3 if total <= 36 * 1024**3 else 3 / 4
        budget = int(total * share)
        source = f"{'2/3' if share < 0.7 else '3/4'} of unified memory (macOS default wired limit)"
    return Gpu(
        "apple", "Apple GPU (unified)", total, None, budget, source, index=0, shared_with_ram_bytes=budget, unified=True
    )


def _as_backend(name: str) -> Backend:
    for backend in BACKENDS:
        if backend == name:
            return backend
    raise InvalidValue("backend", f"unknown backend {name!r}", hint=f"use one of: {', '.join(BACKENDS)}")
