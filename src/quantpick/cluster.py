"""Several machines through llama.cpp's RPC backend: the workers, their devices, and the network. Pure.

llama.cpp puts RPC devices first in its device list (src/llama.cpp: "add RPC servers at the front of the list to
minimize network transfers"), so `-ts` ratios name the workers in `--rpc` order, then the head's GPUs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from quantpick.errors import InvalidValue
from quantpick.hardware import Gpu, Hardware
from quantpick.sizes import parse_size

DEFAULT_PORT = 50052  # rpc-server's default port (tools/rpc/rpc-server.cpp)
# 1 GbE and a LAN round trip, the common home and lab setup: 1 Gbit/s, 0.2 ms (ping on a switched gigabit LAN is
# typically 0.1-0.3 ms).
DEFAULT_NETWORK_GBIT = 1.0
DEFAULT_NETWORK_LATENCY_MS = 0.2
TRUST_WARNING = (
    "rpc-server is insecure: run it only on a trusted network, never on an open one (llama.cpp's tools/rpc/README.md)"
)
_SPEC = re.compile(r"^(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})=(?P<rest>.+)$")


@dataclass(frozen=True)
class Worker:
    address: str  # host:port as --rpc takes it
    memory_bytes: int
    bandwidth_gbps: float | None
    source: str  # --rpc, or the hardware file


@dataclass(frozen=True)
class Network:
    gbit_per_second: float = DEFAULT_NETWORK_GBIT
    latency_ms: float = DEFAULT_NETWORK_LATENCY_MS

    def __post_init__(self) -> None:
        if not 0 < self.gbit_per_second <= 10_000:
            raise InvalidValue(
                "network_bandwidth", f"{self.gbit_per_second:g} Gbit/s is out of range", hint="e.g. 1 or 10"
            )
        if not 0 <= self.latency_ms <= 10_000:
            raise InvalidValue("network_latency", f"{self.latency_ms:g} ms is out of range", hint="e.g. 0.2")

    def seconds_per_token(self, workers: int, embedding_length: int) -> float:
        """Each worker receives the hidden state and sends it back: 2 trips of embd x 4 bytes per token."""
        trip = self.latency_ms / 1e3 + embedding_length * 4 * 8 / (self.gbit_per_second * 1e9)
        return workers * 2 * trip


def parse_rpc_spec(text: str) -> Worker:
    """`HOST:PORT=24GiB` or `HOST:PORT=24GiB@936` (its memory for the model, and its bandwidth in GB/s)."""
    match = _SPEC.match(text.strip())
    if match is None:
        raise InvalidValue(
            "rpc", f"not a worker: {text[:60]!r}", hint="write HOST:PORT=MEMORY[@GBPS], e.g. 192.168.1.20:50052=24GiB"
        )
    port = int(match.group("port"))
    if not 1 <= port <= 65535:
        raise InvalidValue("rpc", f"port {port} is out of range", hint="e.g. 50052, rpc-server's default")
    memory_text, _, bandwidth_text = match.group("rest").partition("@")
    if not memory_text:
        raise InvalidValue("rpc", f"{text[:60]!r} gives no memory figure", hint="e.g. 192.168.1.20:50052=24GiB")
    memory = parse_size(memory_text, field="rpc")
    bandwidth = None
    if bandwidth_text:
        try:
            bandwidth = float(bandwidth_text)
        except ValueError:
            bandwidth = -1.0
        if not 0 < bandwidth <= 100_000:
            raise InvalidValue("rpc", f"not a bandwidth: {bandwidth_text[:20]!r}", hint="GB/s, e.g. =24GiB@936")
    return Worker(f"{match.group('host')}:{port}", memory, bandwidth, "--rpc")


def worker_from_hardware(name: str, hw: Hardware, index: int) -> Worker:
    """A saved probe of a worker: its GPUs' memory (else its usable RAM) and their bandwidth."""
    if hw.gpus:
        memory = sum(g.budget_bytes or 0 for g in hw.gpus)
        figures = [g.bandwidth_gbps for g in hw.gpus if g.bandwidth_gbps]
        bandwidth = min(figures) if figures else None
    else:
        memory = hw.usable_ram_bytes()
        bandwidth = hw.ram.bandwidth_gbps
    return Worker(f"{name}:{DEFAULT_PORT + index}", memory, bandwidth, f"--hardware {name}")


def with_workers(head: Hardware, workers: list[Worker]) -> Hardware:
    """The head machine with each worker as one more device, first in the list as llama.cpp orders them."""
    seen: set[str] = set()
    for worker in workers:
        if worker.address in seen:
            raise InvalidValue("rpc", f"{worker.address} is named twice", hint="give each worker once")
        seen.add(worker.address)
        if worker.memory_bytes <= 0:
            raise InvalidValue("rpc", f"{worker.address} has no memory for the model", hint="e.g. =24GiB")
    devices = [
        Gpu(
            "override",
            f"rpc {w.address}",
            w.memory_bytes,
            w.memory_bytes,
            w.memory_bytes,
            w.source,
            index=i,
            bandwidth_gbps=w.bandwidth_gbps,
            bandwidth_source=w.source if w.bandwidth_gbps else None,
            rpc=w.address,
        )
        for i, w in enumerate(workers)
    ]
    local = [replace(g, index=len(devices) + i) for i, g in enumerate(head.gpus)]
    return replace(head, gpus=devices + local)


def rpc_addresses(hw: Hardware) -> list[str]:
    return [g.rpc for g in hw.gpus if g.rpc]


def worker_commands(addresses: list[str]) -> list[str]:
    """The rpc-server line for each worker (-c keeps a local cache of the tensors it was sent)."""
    return [f"rpc-server -H 0.0.0.0 -p {address.rsplit(':', 1)[1]} -c" for address in addresses]
