"""Segmented parallel transfers: N ranged connections per download, resumable by segment, hashed as they land.

One pool of worker threads pulls segments of every file being fetched from one queue (so the shards of a
split set overlap), writes each piece at its offset in the file's `.part` as it arrives, and records the
ranges on disk: `<file>.part.state`, written atomically, trusted only when the remote size and ETag still
match. A hasher thread per file reads the contiguous prefix back from the page cache as it grows, so when
the last byte lands only a short tail is left to hash.

A server that ignores Range (answers 200) is fetched over one stream instead, and the result says so.
Politeness: never more than `connections` requests at once (at most MAX_CONNECTIONS), a 429/503 makes that
worker wait as Retry-After says.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONNECTIONS = 8  # bench/results.md: 8 streams reach the line rate under a 25 MB/s-per-connection cap
MAX_CONNECTIONS = 16
SEGMENT_BYTES = 16 * 1024 * 1024
STATE_EVERY_SECONDS = 0.1  # what a kill -9 can cost: the bytes of the last 0.1 s
HASH_BLOCK = 8 * 1024 * 1024
STATE_VERSION = 1
MIN_STEAL_BYTES = 2 * 1024 * 1024  # an idle connection takes half of a segment with at least twice this left
# A first stream this fast already fills the line (loopback, a LAN mirror): more connections only cost CPU.
FAST_STREAM_BPS = 200e6
VERDICT_BYTES = 4 * 1024 * 1024
VERDICT_SECONDS = 0.05


class RangeIgnored(Exception):
    """The server answered a ranged request with the whole file (200): fetch it over one stream."""


@dataclass
class Ranges:
    """Sorted, merged [start, end) intervals of bytes on disk."""

    spans: list[list[int]] = field(default_factory=list)

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        merged: list[list[int]] = []
        placed = False
        for span in self.spans:
            if span[1] < start or span[0] > end:
                if not placed and span[0] > end:
                    merged.append([start, end])
                    placed = True
                merged.append(span)
            else:
                start, end = min(start, span[0]), max(end, span[1])
        if not placed:
            merged.append([start, end])
        self.spans = sorted(merged)

    def prefix(self) -> int:
        """How many bytes from offset 0 are on disk without a gap."""
        return self.spans[0][1] if self.spans and self.spans[0][0] == 0 else 0

    def total(self) -> int:
        return sum(end - start for start, end in self.spans)

    def missing(self, size: int) -> list[tuple[int, int]]:
        gaps, cursor = [], 0
        for start, end in self.spans:
            if start > cursor:
                gaps.append((cursor, min(start, size)))
            cursor = max(cursor, end)
        if cursor < size:
            gaps.append((cursor, size))
        return [(s, e) for s, e in gaps if e > s]


@dataclass
class Stats:
    bytes_fetched: int = 0
    seconds: float = 0.0
    hash_seconds: float = 0.0
    connections: int = 1
    segmented: bool = True


class FileJob:
    """One file being fetched: its `.part`, the ranges on disk, the ordered hash and the failure count."""

    def __init__(self, key: str, part: Path, size: int, etag: str | None, on_bytes: Callable[[int], None]) -> None:
        self.key, self.part, self.size, self.etag = key, part, size, etag  # etag: the listing's sha256
        # Set once the first answer was a 206 and its pace was judged: the job's other connections wait for it,
        # so that they neither ask a server that ignores Range for the whole file nor blur the verdict.
        self.range_ok = threading.Event()
        self.probe_taken = False
        self.on_bytes = on_bytes
        self.state_path = part.with_name(part.name + ".state")
        self.ranges = Ranges()
        self.digest = hashlib.sha256()
        self.hashed = 0
        self.hash_seconds = 0.0
        self.fetched = 0
        self.url: str | None = None
        self.error: BaseException | None = None
        self.cond = threading.Condition()
        self.last_state_write = 0.0
        self.last_byte_at = time.monotonic()
        self.pending = 0  # segments queued or in flight
        self.fd = -1
        self.closed = False
        self.pool: Pool | None = None
        self.first_byte_at: float | None = None
        self.verdict_bytes = 0
        self.verdict_given = False

    def observe(self, received: int, now: float | None = None) -> None:
        """The first answer's pace decides how many connections the pool keeps (see FAST_STREAM_BPS)."""
        if self.verdict_given:
            return
        now = time.monotonic() if now is None else now
        if self.first_byte_at is None:
            self.first_byte_at = now
        self.verdict_bytes += received
        elapsed = now - self.first_byte_at
        if self.verdict_bytes >= VERDICT_BYTES or elapsed >= VERDICT_SECONDS:
            if self.pool is not None and elapsed > 0 and self.verdict_bytes / elapsed >= FAST_STREAM_BPS:
                self.pool.width = 1
            self.verdict_given = True
            self.range_ok.set()  # the other connections start now (or, when one suffices, stop)

    # --- state on disk ----------------------------------------------------------------------------------

    def load(self) -> None:
        """Trust a previous run's ranges only when the part is there and size and ETag still match."""
        have, self.ranges = part_ranges(self.part, self.size, self.etag)
        if have < 0:
            self.state_path.unlink(missing_ok=True)
        if have > self.size or (have >= 0 and not self.ranges.spans):
            self.part.unlink(missing_ok=True)
            self.state_path.unlink(missing_ok=True)
        elif have >= 0:
            self.open()

    def open(self) -> None:
        """The part is created only once the server said yes: a refused download leaves nothing behind."""
        if self.fd < 0:
            self.part.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.part, os.O_RDWR | os.O_CREAT, 0o644)

    def save(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.fd < 0 or (not force and now - self.last_state_write < STATE_EVERY_SECONDS):
            return
        self.last_state_write = now
        data = {"version": STATE_VERSION, "size": self.size, "etag": self.etag, "done": self.ranges.spans}
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.state_path)
        except OSError:
            tmp.unlink(missing_ok=True)  # the state only saves a later run some bytes: never fail for it

    def close(self) -> None:
        with self.cond:
            self.closed = True
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1

    # --- called by the workers ----------------------------------------------------------------------------

    def write(self, offset: int, data: bytes) -> None:
        with self.cond:  # under the lock: close() cannot pull the descriptor away mid-write
            if self.closed:
                raise OSError("the download was stopped")
            self.open()
            os.pwrite(self.fd, data, offset)
            self.ranges.add(offset, offset + len(data))
            self.fetched += len(data)
            self.last_byte_at = time.monotonic()
            self.save()
            self.cond.notify_all()
        self.on_bytes(len(data))

    def fail(self, error: BaseException) -> None:
        with self.cond:
            if self.error is None:
                self.error = error
            self.cond.notify_all()

    def segment_done(self) -> None:
        with self.cond:
            self.pending -= 1
            self.cond.notify_all()

    # --- the hasher -------------------------------------------------------------------------------------

    def hash_until_done(self, stop: threading.Event) -> None:
        """Hash the contiguous prefix as it grows; returns when the whole file is hashed, failed or stopped."""
        while self.hashed < self.size:
            with self.cond:
                while self.ranges.prefix() <= self.hashed and self.error is None and not stop.is_set():
                    if self.pending == 0 and self.ranges.prefix() <= self.hashed:
                        break
                    self.cond.wait(0.2)
                if self.error is not None or stop.is_set():
                    return
                ready = self.ranges.prefix()
                if ready <= self.hashed:
                    return  # nothing more will come: the caller sees the gap
            started = time.process_time()
            while self.hashed < ready:
                try:
                    block = os.pread(self.fd, min(HASH_BLOCK, ready - self.hashed), self.hashed)
                except OSError:
                    return  # closed under it (an interrupt): the caller sees the file unhashed
                if not block:
                    return
                self.digest.update(block)
                self.hashed += len(block)
            self.hash_seconds += time.process_time() - started


@dataclass
class Segment:
    job: FileJob
    start: int
    end: int  # exclusive; an idle worker may lower it to take the rest (see Pool.steal)
    position: int = -1  # the fetcher's progress, for stealing
    probe: bool = False  # the job's first request: its pace is the verdict (FileJob.observe)

    def __post_init__(self) -> None:
        if self.position < 0:
            self.position = self.start


@dataclass
class Pool:
    """The workers' shared view: how many may run, and the segments in flight (to split the largest)."""

    width: int
    inflight: list[Segment] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def steal(self) -> Segment | None:
        """Half of the in-flight segment with the most bytes left, for an idle worker (the tail ends sooner)."""
        with self.lock:
            live = [s for s in self.inflight if s.job.error is None and s.end - s.position >= 2 * MIN_STEAL_BYTES]
            if not live:
                return None
            victim = max(live, key=lambda s: s.end - s.position)
            middle = victim.position + (victim.end - victim.position) // 2
            taken = Segment(victim.job, middle, victim.end)
            victim.end = middle
            with victim.job.cond:
                victim.job.pending += 1
            return taken


Fetch = Callable[[FileJob, Segment, threading.Event], None]


def split(missing: list[tuple[int, int]], segment_bytes: int = SEGMENT_BYTES) -> list[tuple[int, int]]:
    pieces = []
    for start, end in missing:
        for offset in range(start, end, segment_bytes):
            pieces.append((offset, min(end, offset + segment_bytes)))
    return pieces


def segment_bytes_for(size: int, connections: int) -> int:
    """Segments of at most 16 MiB, small enough that every connection has one, at least 1 MiB."""
    return max(1024 * 1024, min(SEGMENT_BYTES, -(-size // max(connections, 1))))


def run_pool(jobs: list[FileJob], connections: int, fetch: Fetch, stop: threading.Event) -> Pool:
    """Fetch every missing range of every job with `connections` workers; each job's hasher runs alongside.

    `fetch(job, segment, stop)` downloads one segment through job.write; it raises to fail the job. The first
    segment of each job goes first and tells whether the server honours Range: the job's other segments wait
    for that answer (job.range_ok) instead of each asking for the whole file.
    """
    work: queue.Queue[Segment | None] = queue.Queue()
    pool = Pool(max(1, connections))
    for job in jobs:
        job.pool = pool
        pieces = split(job.ranges.missing(job.size), segment_bytes_for(job.size, connections))
        job.pending = len(pieces)
        for start, end in pieces:
            work.put(Segment(job, start, end))
    hashers = [threading.Thread(target=job.hash_until_done, args=(stop,), daemon=True) for job in jobs]
    for hasher in hashers:
        hasher.start()

    def worker(index: int) -> None:
        while not stop.is_set():
            if index >= pool.width:
                return
            try:
                segment: Segment | None = work.get(timeout=0.05)
            except queue.Empty:
                if all(j.pending <= 0 or j.error is not None for j in jobs):
                    return
                segment = pool.steal() if all(j.range_ok.is_set() for j in jobs) else None
                if segment is None:
                    continue
            if segment is None:
                return
            job = segment.job
            if job.error is not None:
                job.segment_done()
                continue
            with job.cond:
                probe = not job.probe_taken
                job.probe_taken = True
            segment.probe = probe
            if not probe:
                while not job.range_ok.wait(0.1):
                    if job.error is not None or stop.is_set():
                        break
                if job.error is not None or stop.is_set():
                    job.segment_done()
                    continue
            with pool.lock:
                pool.inflight.append(segment)
            try:
                fetch(job, segment, stop)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
                job.fail(exc)
            finally:
                with pool.lock:
                    pool.inflight.remove(segment)
            job.segment_done()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(max(1, connections))]
    for thread in threads:
        thread.start()
    try:
        for thread in [*threads, *hashers]:
            while thread.is_alive():
                thread.join(0.2)  # short joins: Ctrl-C reaches the main thread
    except BaseException:
        stop.set()
        deadline = time.monotonic() + 2
        for thread in threads:  # let the workers see `stop` (each is at most one piece away)
            thread.join(max(deadline - time.monotonic(), 0))
        raise
    finally:
        for job in jobs:
            with job.cond:
                job.save(force=True)
                job.cond.notify_all()
    return pool


def part_ranges(part: Path, size: int, sha256: str | None) -> tuple[int, Ranges]:
    """The part's length (-1 when there is none) and the ranges of the file it holds that can be trusted:
    its state's, or a contiguous prefix for a single-stream part of an older run."""
    try:
        length = part.stat().st_size
    except OSError:
        return -1, Ranges()
    state = _read_state(part.with_name(part.name + ".state"))
    if state is not None:
        return length, trusted_ranges(state, size, sha256, length)
    ranges = Ranges()
    if length <= size:
        ranges.add(0, length)
    return length, ranges


def stored_bytes(part: Path, size: int, sha256: str | None, *, prefix_only: bool = False) -> int:
    """How many bytes of a file a `.part` holds: its state's ranges, or its length for a single-stream part."""
    _length, ranges = part_ranges(part, size, sha256)
    return ranges.prefix() if prefix_only else ranges.total()


def trusted_ranges(state: dict[str, Any], size: int, sha256: str | None, length: int) -> Ranges:
    """The ranges a state file records, if it is for this file (size and sha256) and each fits the part."""
    ranges = Ranges()
    if state.get("size") != size or state.get("etag") != sha256:
        return ranges
    for span in state.get("done", []):
        valid = isinstance(span, list) and len(span) == 2
        valid = valid and all(isinstance(x, int) and not isinstance(x, bool) for x in span)
        if valid and 0 <= span[0] < span[1] <= min(size, length):
            ranges.add(span[0], span[1])
    return ranges


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == STATE_VERSION else None
