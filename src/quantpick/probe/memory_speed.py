"""`probe --measure`: how fast this machine's cores read memory, and how much of it stays in their caches.

Each of N worker processes (N = the cores llama.cpp would use) scans its own buffer with memchr
(bytes.find of a byte that is absent), the simplest full-speed read there is, at growing sizes, three
sweeps over all sizes. The aggregate rate over a 1 GiB total (32 MiB a worker at least) is the RAM
bandwidth; the largest size still read well above that rate is the cache a token's weights can stay in.
Processes, not threads: bytes.find holds the GIL.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MiB = 1024 * 1024
GB = 1e9
# Totals over all workers. The RAM figure reads 1 GiB, and at least 32 MiB a worker: a 96-core EPYC's
# 1152 MiB of L3 (9684X) would hold a 1 GiB total.
RAM_PER_WORKER = 32 * MiB
CACHE_SIZES = tuple(size * MiB for size in (4, 8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512))
RAM_SIZE = 1024 * MiB
# A size counts as cached while it reads this much faster than RAM: memchr reads 2x RAM's rate from the
# caches on this project's VM (bench/speed/results.md), so 1.5x is clear of its noise either way.
CACHED_RATIO = 1.5
SECONDS_PER_SIZE = 0.05
SWEEPS = 3  # interleaved, so a burst of a neighbour's traffic spoils one sweep of a size, not all three
MEASURE_SOURCE = "measured by quantpick probe --measure"


class MeasureFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class MemorySpeed:
    ram_gbps: float
    cache_bytes: int | None  # None: no size read faster than RAM
    workers: int
    curve: tuple[tuple[int, float], ...]  # (total bytes, GB/s)
    ram_bytes: int = RAM_SIZE  # the total read for the RAM figure


def ram_total(workers: int) -> int:
    """Bytes read for the RAM figure: far past the caches of `workers` cores."""
    return max(RAM_SIZE, workers * RAM_PER_WORKER)


def cached_size(curve: Sequence[tuple[int, float]], ram_gbps: float) -> int | None:
    """The largest size of an unbroken run from the smallest up that reads at CACHED_RATIO x RAM or more."""
    best = None
    for size, gbps in sorted(curve):
        if gbps < ram_gbps * CACHED_RATIO:
            break
        best = size
    return best


def _worker(sizes: Sequence[int], parts: int, sweeps: int, barrier: Any, results: Any) -> None:
    # one buffer for every size: a prefix scanned over and over is cached like a buffer of its own size
    buffer = bytearray(b"\x01") * max(max(sizes) // parts, 4096)  # written, so every page is real memory
    buffer.find(b"\x00")  # the first scan faults the pages in
    for sweep in range(sweeps):
        for total in sizes:
            end = min(max(total // parts, 4096), len(buffer))
            buffer.find(b"\x00", 0, end)
            barrier.wait(timeout=60)
            start = time.perf_counter()
            scans = 0
            while True:
                buffer.find(b"\x00", 0, end)
                scans += 1
                elapsed = time.perf_counter() - start
                if elapsed >= SECONDS_PER_SIZE and scans >= 2:
                    break
            results.put((sweep, total, end * scans, elapsed))


def measure(
    workers: int | None = None, *, cache_sizes: Sequence[int] = CACHE_SIZES, ram_size: int | None = None
) -> MemorySpeed:
    """Measure with `workers` processes (default: every CPU this process may run on). Takes a few seconds.

    Raises MeasureFailed when a worker does not report (killed, out of memory)."""
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    count = max(1, workers)
    method = "fork" if sys.platform == "linux" else "spawn"  # fork is unsafe with macOS frameworks
    context: Any = multiprocessing.get_context(method)
    barrier = context.Barrier(count)
    results = context.Queue()
    if ram_size is None:
        ram_size = ram_total(count)
    sizes = (*cache_sizes, ram_size)
    arguments = (sizes, count, SWEEPS, barrier, results)
    processes = [context.Process(target=_worker, args=arguments) for _ in range(count)]
    for process in processes:
        process.start()
    try:
        reports: dict[tuple[int, int], float] = {}
        for _ in range(SWEEPS * len(sizes) * count):
            try:
                sweep, total, scanned, elapsed = results.get(timeout=60)
            except queue.Empty:
                raise MeasureFailed("a measuring process stopped without reporting") from None
            # the workers ran side by side after a barrier: their rates add up
            reports[sweep, total] = reports.get((sweep, total), 0.0) + scanned / elapsed / GB
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    # the best sweep of each size: a neighbour's burst slows one sweep, never speeds one up
    rates = {total: max(reports[sweep, total] for sweep in range(SWEEPS)) for total in sizes}
    ram = rates[ram_size]
    curve = tuple((size, round(rates[size], 1)) for size in cache_sizes)
    return MemorySpeed(round(ram, 1), cached_size(curve, ram), count, curve, ram_size)
