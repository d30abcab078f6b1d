"""The downloader: the files of one quant, pinned to a commit, verified by sha256, resumable across processes.

huggingface_hub supplies the session, URLs, auth headers and error types; the transfer itself is ours
because the library restarts a partial file from zero in a new process and never checks sha256.
Files land in the Hugging Face cache layout (blobs + snapshots symlinks) or under --local-dir.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from quantpick.errors import DownloadError, HubError, Interrupted, UsageError
from quantpick.http import BACKOFF_SECONDS, RETRIES
from quantpick.naming import RepoFile
from quantpick.sizes import MiB, format_size
from quantpick.states import FileStatus, Layout
from quantpick.transfer import DEFAULT_CONNECTIONS, FileJob, RangeIgnored, Segment, Stats, run_pool, stored_bytes

HASH_BLOCK = 8 * MiB
WRITE_BYTES = 1 * MiB  # a segment's bytes are written and recorded in pieces of this size,
WRITE_SECONDS = 0.05  # or this often on a slow stream, so that a kill -9 loses little


@dataclass
class FilePlan:
    repo_path: str
    path: Path  # final location (a snapshot symlink in the cache, a real file under --local-dir)
    blob: Path  # where the bytes live (same as path under --local-dir)
    size_bytes: int
    sha256: str | None
    status: FileStatus = "missing"  # present, partial, missing -> after the run: present, downloaded, resumed
    part_bytes: int = 0

    @property
    def part(self) -> Path:
        return self.blob.with_name(self.blob.name + ".part")


@dataclass
class DownloadPlan:
    repo: str
    revision: str
    requested_revision: str | None
    destination: Path
    layout: Layout
    files: list[FilePlan]
    model_path: Path
    free_bytes: int | None = None
    notes: list[str] = field(default_factory=list)
    connections: int = DEFAULT_CONNECTIONS
    stats: Stats = field(default_factory=Stats)

    @property
    def bytes_to_fetch(self) -> int:
        return sum(f.size_bytes - f.part_bytes for f in self.files if f.status != "present")

    @property
    def margin_bytes(self) -> int:
        return 16 * MiB + self.bytes_to_fetch // 100


def hub_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _marker_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "quantpick" / "verified"


def _safe_relative(repo_path: str) -> PurePosixPath:
    relative = PurePosixPath(repo_path)
    if relative.is_absolute() or any(part in ("..", "") for part in relative.parts) or "\\" in repo_path:
        raise UsageError(f"refusing unsafe path from the repo listing: {repo_path!r}", code="unsafe_path")
    return relative


def plan_download(
    repo: str, revision: str, requested_revision: str | None, files: list[RepoFile], local_dir: str | None
) -> DownloadPlan:
    """Where each file goes and what is already there. Reads the disk, writes nothing."""
    plans = []
    if local_dir is not None:
        destination = Path(local_dir).expanduser().resolve()
        for repo_file in files:
            target = destination.joinpath(*_safe_relative(repo_file.path).parts)
            if destination not in target.parents:
                raise UsageError(f"{repo_file.path!r} would land outside {destination}", code="unsafe_path")
            plans.append(FilePlan(repo_file.path, target, target, repo_file.size_bytes, repo_file.sha256))
        layout: Layout = "local-dir"
    else:
        destination = hub_cache_dir() / ("models--" + repo.replace("/", "--"))
        for repo_file in files:
            relative = _safe_relative(repo_file.path)
            name = repo_file.sha256 or hashlib.sha256(f"{revision}/{repo_file.path}".encode()).hexdigest()
            blob = destination / "blobs" / name
            snapshot = destination.joinpath("snapshots", revision, *relative.parts)
            plans.append(FilePlan(repo_file.path, snapshot, blob, repo_file.size_bytes, repo_file.sha256))
        layout = "cache"
    for plan in plans:
        _inspect(plan)
    free = _free_bytes(destination)
    return DownloadPlan(repo, revision, requested_revision, destination, layout, plans, plans[0].path, free)


def _inspect(plan: FilePlan) -> None:
    try:
        size = plan.blob.stat().st_size
    except OSError:
        size = None
    if size == plan.size_bytes:
        plan.status = "present"
        return
    part = stored_bytes(plan.part, plan.size_bytes, plan.sha256)
    if part > 0:
        plan.status, plan.part_bytes = "partial", part


def _free_bytes(path: Path) -> int | None:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


# --- verification --------------------------------------------------------------------------------------


def _path_key(path: Path) -> str:
    """A file name for state about `path` kept under HF_HOME (verified marker, lock)."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:40]


def _marker_path(blob: Path) -> Path:
    return _marker_dir() / (_path_key(blob) + ".json")


def _write_marker(blob: Path, sha256: str) -> None:
    try:
        stat = blob.stat()
        marker = _marker_path(blob)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))
    except OSError:
        pass


def _already_verified(blob: Path, sha256: str) -> bool:
    try:
        data = json.loads(_marker_path(blob).read_text())
        stat = blob.stat()
    except (OSError, ValueError):
        return False
    return bool(data == {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})


def _hash_file(path: Path) -> tuple[Any, int]:
    """The running sha256 of a file's bytes and how many there were."""
    digest, count = hashlib.sha256(), 0
    with open(path, "rb") as stream:
        while block := stream.read(HASH_BLOCK):
            digest.update(block)
            count += len(block)
    return digest, count


def file_sha256(path: Path) -> str:
    return str(_hash_file(path)[0].hexdigest())


def verify_present(plan: FilePlan) -> bool:
    """True when the file on disk has the listed sha256 (hashed once, then remembered by size and mtime)."""
    if plan.sha256 is None or _already_verified(plan.blob, plan.sha256):
        return True
    if file_sha256(plan.blob) != plan.sha256:
        return False
    _write_marker(plan.blob, plan.sha256)
    return True


# --- the transfer --------------------------------------------------------------------------------------


class Progress(Protocol):
    """What the downloader reports; the CLI renders it (rich on a terminal, nothing otherwise)."""

    def start_file(self, plan: FilePlan) -> None: ...

    def advance(self, plan: FilePlan, num_bytes: int) -> None: ...

    def finish_file(self, plan: FilePlan) -> None: ...


class NoProgress:
    def start_file(self, plan: FilePlan) -> None:
        pass

    def advance(self, plan: FilePlan, num_bytes: int) -> None:
        pass

    def finish_file(self, plan: FilePlan) -> None:
        pass


def execute(
    plan: DownloadPlan, progress: Progress | None = None, *, on_wait: Callable[[str], None] | None = None
) -> DownloadPlan:
    """Fetch what is missing, verify everything, link it in place. Raises DownloadError/HubError/Interrupted.

    Each file is fetched under a cross-process lock: a second process fetching the same file waits (and says
    so through `on_wait`), then finds the verified file and reuses it.
    """
    progress = progress or NoProgress()
    if plan.free_bytes is not None and plan.bytes_to_fetch + plan.margin_bytes > plan.free_bytes:
        raise DownloadError(
            f"not enough disk space at {plan.destination}: need {format_size(plan.bytes_to_fetch)}"
            f" (+{format_size(plan.margin_bytes)} margin), {format_size(plan.free_bytes)} free",
            code="disk_space",
            hint="free some space or choose another place with --local-dir",
        )
    started = time.monotonic()
    plan.stats = Stats(connections=plan.connections, segmented=plan.connections > 1)
    try:
        with ExitStack() as locks:
            for file_plan in sorted(plan.files, key=lambda f: str(f.blob)):
                locks.enter_context(_file_lock(file_plan, on_wait))
            to_fetch = []
            for file_plan in plan.files:
                _inspect(file_plan)  # another process may have fetched it while this one waited
                if file_plan.status == "present" and _reuse(plan, file_plan, progress):
                    continue
                to_fetch.append(file_plan)
            _fetch_all(plan, to_fetch, progress)
    except KeyboardInterrupt:
        raise Interrupted(
            "download interrupted",
            code="interrupted",
            hint="run the same command again to resume: the bytes already fetched are kept",
        ) from None
    plan.stats.seconds = time.monotonic() - started
    if plan.layout == "cache" and plan.requested_revision != plan.revision:
        _write_ref(plan)  # refs/<branch> -> commit, so hf_hub_download and try_to_load_from_cache find the files
    return plan


def _reuse(plan: DownloadPlan, file_plan: FilePlan, progress: Progress) -> bool:
    """A file already at its place: verified (once) and linked; False when its bytes are wrong (then removed)."""
    progress.start_file(file_plan)
    if verify_present(file_plan):
        progress.advance(file_plan, file_plan.size_bytes)
        progress.finish_file(file_plan)
        _link(plan, file_plan)
        return True
    file_plan.blob.unlink()  # wrong bytes at the final path: never leave them there
    file_plan.status = "missing"
    return False


def _fetch_all(plan: DownloadPlan, files: list[FilePlan], progress: Progress) -> None:
    """Every file over `plan.connections` ranged connections (one stream per file when 1 or when Range is ignored)."""
    single = [f for f in files if plan.connections <= 1 or f.size_bytes == 0]
    parallel = [f for f in files if f not in single]
    if parallel:
        single += _fetch_segmented(plan, parallel, progress)
    for file_plan in single:
        resumed = file_plan.status == "partial"
        _discard_state(file_plan)
        fetched, hash_seconds = _fetch(plan, file_plan, progress)
        plan.stats.bytes_fetched += fetched
        plan.stats.hash_seconds += hash_seconds
        file_plan.status = "resumed" if resumed else "downloaded"
        _link(plan, file_plan)


def _discard_state(file_plan: FilePlan) -> None:
    """Before a single-stream fetch: a segmented part is only good to it as its contiguous prefix."""
    state = file_plan.part.with_name(file_plan.part.name + ".state")
    if state.exists():
        keep = stored_bytes(file_plan.part, file_plan.size_bytes, file_plan.sha256, prefix_only=True)
        with open(file_plan.part, "r+b") as part:
            part.truncate(keep)
        state.unlink(missing_ok=True)


def _fetch_segmented(plan: DownloadPlan, files: list[FilePlan], progress: Progress) -> list[FilePlan]:
    """Fetch `files` over one pool of ranged connections; returns the files whose server ignored Range."""
    import threading

    from quantpick.hub import hub_error

    jobs: dict[str, tuple[FilePlan, FileJob]] = {}
    for file_plan in files:
        progress.start_file(file_plan)

        def on_bytes(count: int, file_plan: FilePlan = file_plan) -> None:
            progress.advance(file_plan, count)

        job = FileJob(file_plan.repo_path, file_plan.part, file_plan.size_bytes, file_plan.sha256, on_bytes)
        job.load()
        progress.advance(file_plan, job.ranges.total())
        jobs[file_plan.repo_path] = (file_plan, job)
    stop = threading.Event()
    fallback = []
    try:
        pool = run_pool([job for _plan, job in jobs.values()], plan.connections, _segment_fetcher(plan), stop)
        plan.stats.connections = pool.width
        if pool.width < plan.connections:
            plan.notes.append("one stream already fills this connection: the download used one")
    finally:
        for _plan, job in jobs.values():
            job.close()
    for file_plan, job in jobs.values():
        plan.stats.bytes_fetched += job.fetched
        plan.stats.hash_seconds += job.hash_seconds
        if isinstance(job.error, RangeIgnored):
            plan.notes.append(f"the server ignores Range for {file_plan.repo_path}: fetched over one stream")
            plan.stats.segmented = False
            fallback.append(file_plan)
            continue
        if job.error is not None:
            error = job.error
            if isinstance(error, (HubError, DownloadError)):
                raise error
            if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DownloadError(
                    f"disk full while writing {file_plan.part} ({format_size(job.ranges.total())} kept)",
                    code="disk_full",
                    hint="free some space and run the same command again: the download resumes",
                ) from None
            raise hub_error(error, plan.repo, plan.revision, file_plan.repo_path) from error
        resumed = file_plan.status == "partial"
        if job.hashed != file_plan.size_bytes:
            raise DownloadError(
                f"{file_plan.repo_path}: {job.ranges.total()} of {file_plan.size_bytes} bytes arrived",
                code="size_mismatch",
                hint="run the command again: the download resumes",
            )
        job.state_path.unlink(missing_ok=True)
        _finish(file_plan, file_plan.part, job.digest, job.hashed, progress)
        file_plan.status = "resumed" if resumed else "downloaded"
        _link(plan, file_plan)
    return fallback


def _segment_fetcher(plan: DownloadPlan) -> Callable[[FileJob, Segment, Any], None]:
    """One segment: ranged requests until it is whole, under the same progress rule as a single stream."""
    import httpx2
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import hf_hub_url

    from quantpick.http import RETRY_STATUSES, hub_headers, stream
    from quantpick.hub import short_error

    def fetch(job: FileJob, segment: Segment, stop: Any) -> None:
        resolve_url = hf_hub_url(plan.repo, job.key, revision=plan.revision)
        position, failures, why = segment.start, 0, "no answer"
        while position < segment.end and not stop.is_set() and job.error is None:
            before, retry_after = position, None
            url = job.url or resolve_url
            try:
                with stream(url, headers=hub_headers({"Range": f"bytes={position}-{segment.end - 1}"})) as response:
                    if response.status_code in RETRY_STATUSES:
                        response.read()
                        retry_after = response.headers.get("Retry-After")
                        why = f"HTTP {response.status_code}"
                    elif response.status_code == 200 or not _range_starts_at(response, position):
                        raise RangeIgnored(job.key)
                    else:
                        _check_validator(job, response)
                        job.url = str(response.url)  # the CDN's URL: reused while it stays valid
                        # Pieces are gathered up to WRITE_BYTES before they are written and recorded (fewer
                        # locks and state updates), and written whatever happens: a cut keeps what arrived.
                        pending, pending_at, flushed_at = bytearray(), position, time.monotonic()
                        try:
                            for chunk in response.iter_bytes():
                                if segment.probe:
                                    job.observe(len(chunk))  # one stream's pace, not the sum of them
                                room = max(segment.end - position, 0)  # `end` drops when a worker steals
                                pending += chunk[:room]
                                position = pending_at + len(pending)
                                segment.position = position
                                if len(pending) >= WRITE_BYTES or time.monotonic() - flushed_at >= WRITE_SECONDS:
                                    job.write(pending_at, bytes(pending))
                                    pending, pending_at, flushed_at = bytearray(), position, time.monotonic()
                                if position >= segment.end or stop.is_set():
                                    break
                        finally:
                            if pending:
                                job.write(pending_at, bytes(pending))
                            if segment.probe:
                                job.range_ok.set()  # a first answer shorter than the verdict's window
                        why = f"the server sent {position - segment.start} of {segment.end - segment.start} bytes"
            except (httpx2.TransportError, ConnectionError, TimeoutError) as exc:
                why = short_error(exc)
            except hf_errors.HfHubHTTPError as exc:
                status = getattr(getattr(exc, "response", None), "status_code", None)
                if job.url is None or status not in (403, 404, 410):
                    raise
                job.url, why = None, f"the CDN URL expired (HTTP {status})"  # resolve it again
            if position > before:
                failures = 0
                continue
            failures += 1
            _wait_or_give_up(job.key, failures, job.last_byte_at, why, job.ranges.total(), job.size, retry_after)

    return fetch


def _wait_or_give_up(
    name: str, failures: int, last_byte_at: float, why: str, kept: int, size: int, retry_after: str | None
) -> None:
    """After a request that brought nothing: wait before the next, or give up (RETRIES in a row, or silence)."""
    from quantpick.http import retry_delay, timeout_seconds

    if failures > RETRIES or time.monotonic() - last_byte_at >= timeout_seconds():
        raise HubError(
            f"download of {name} stopped making progress ({why}; {format_size(kept)} of {format_size(size)} kept)",
            code="network",
            hint="run the same command again to resume where it stopped; QUANTPICK_TIMEOUT sets the patience",
        )
    time.sleep(retry_delay(failures, retry_after) if retry_after is not None else _backoff(failures))


def _check_validator(job: FileJob, response: Any) -> None:
    """The server's ETag, where it is a sha256 (the Hub's LFS ETag), must be the listing's."""
    etag = str(response.headers.get("X-Linked-Etag") or response.headers.get("ETag") or "")
    etag = etag.removeprefix("W/").strip('"').lower()
    if job.etag and len(etag) == 64 and all(c in "0123456789abcdef" for c in etag) and etag != job.etag:
        raise DownloadError(
            f"{job.key}: the server's file (ETag {etag[:16]}…) is not the one listed ({job.etag[:16]}…)",
            code="checksum_mismatch",
            hint="the repo changed during the download: run the command again",
        )


@contextmanager
def _file_lock(file_plan: FilePlan, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    from filelock import FileLock, Timeout

    directory = _lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(directory / (_path_key(file_plan.blob) + ".lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait(f"another quantpick is downloading {file_plan.repo_path}: waiting for it to finish")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _lock_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "quantpick" / "locks"


def _link(plan: DownloadPlan, file_plan: FilePlan) -> None:
    if plan.layout != "cache":
        return
    target = os.path.relpath(file_plan.blob, file_plan.path.parent)
    file_plan.path.parent.mkdir(parents=True, exist_ok=True)
    if file_plan.path.is_symlink() and os.readlink(file_plan.path) == target:
        return
    tmp = file_plan.path.with_name(file_plan.path.name + ".quantpick-link")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, file_plan.path)


def _write_ref(plan: DownloadPlan) -> None:
    ref = plan.destination / "refs" / (plan.requested_revision or "main")
    try:
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(plan.revision)
    except OSError:
        pass


def _fetch(plan: DownloadPlan, file_plan: FilePlan, progress: Progress) -> tuple[int, float]:
    """Fetch one file into its `.part`, resuming with Range, then verify it and move it to its final place.

    Bytes are written as they arrive, so a connection that drops keeps what it brought. A request that
    brings no new byte is a failure; RETRIES failures in a row, or QUANTPICK_TIMEOUT seconds without a byte,
    end the download (exit 4, the part kept for the next run).
    """
    import httpx2
    from huggingface_hub import hf_hub_url

    from quantpick.http import RETRY_STATUSES, hub_headers, stream
    from quantpick.hub import hub_error, short_error

    url = hf_hub_url(plan.repo, file_plan.repo_path, revision=plan.revision)
    part = file_plan.part
    digest, have = _resume_digest(part, file_plan.size_bytes)
    fetched, hash_seconds = 0, 0.0
    progress.start_file(file_plan)
    progress.advance(file_plan, have)
    if file_plan.size_bytes == 0:
        part.parent.mkdir(parents=True, exist_ok=True)
        part.touch()
    best, failures, last_byte_at = have, 0, time.monotonic()
    why = "no answer"
    while have < file_plan.size_bytes:
        retry_after: str | None = None
        try:
            headers = hub_headers({"Range": f"bytes={have}-"} if have else None)
            with stream(url, headers=headers) as response:
                if response.status_code in RETRY_STATUSES:
                    response.read()
                    retry_after = response.headers.get("Retry-After")
                    why = f"HTTP {response.status_code}"
                else:
                    part.parent.mkdir(parents=True, exist_ok=True)  # only once the Hub said yes
                    if have and (response.status_code != 206 or not _range_starts_at(response, have)):
                        digest, have = hashlib.sha256(), 0  # the server ignored Range: start over
                        part.write_bytes(b"")
                    with open(part, "ab") as sink:
                        for chunk in response.iter_bytes():
                            sink.write(chunk)
                            started = time.process_time()
                            digest.update(chunk)
                            hash_seconds += time.process_time() - started
                            have += len(chunk)
                            fetched += len(chunk)
                            progress.advance(file_plan, len(chunk))
                            if have > best:
                                last_byte_at = time.monotonic()
                            if have > file_plan.size_bytes:
                                break
                    why = f"the server sent {have} of {file_plan.size_bytes} bytes"
        except (httpx2.TransportError, ConnectionError, TimeoutError) as exc:
            why = short_error(exc)
        except OSError as exc:
            if isinstance(exc, httpx2.HTTPError) or type(exc).__module__.startswith("huggingface_hub"):
                raise hub_error(exc, plan.repo, plan.revision, file_plan.repo_path) from exc
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DownloadError(
                    f"disk full while writing {part} ({format_size(have)} kept)",
                    code="disk_full",
                    hint="free some space and run the same command again: the download resumes",
                ) from None
            raise DownloadError(f"cannot write {part}: {exc.strerror or exc}", code="write_failed") from None
        if have > file_plan.size_bytes:
            break
        if have > best:
            best, failures = have, 0
            continue
        if have >= file_plan.size_bytes:
            break
        failures += 1
        _wait_or_give_up(file_plan.repo_path, failures, last_byte_at, why, have, file_plan.size_bytes, retry_after)
    _finish(file_plan, part, digest, have, progress)
    return fetched, hash_seconds


def _backoff(failures: int) -> float:
    return BACKOFF_SECONDS[min(failures - 1, len(BACKOFF_SECONDS) - 1)]


def _range_starts_at(response: Any, offset: int) -> bool:
    content_range = response.headers.get("Content-Range", "")
    return bool(content_range.startswith(f"bytes {offset}-"))


def _resume_digest(part: Path, size: int) -> tuple[Any, int]:
    """The sha256 of the bytes already in `part` and their count (a part longer than the file is dropped)."""
    try:
        if part.stat().st_size > size:
            part.unlink()
            return hashlib.sha256(), 0
    except OSError:
        return hashlib.sha256(), 0
    return _hash_file(part)


def _finish(file_plan: FilePlan, part: Path, digest: Any, have: int, progress: Progress) -> None:
    if have != file_plan.size_bytes:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{file_plan.repo_path}: got {have} bytes, the listing says {file_plan.size_bytes}",
            code="size_mismatch",
            hint="run the command again",
        )
    actual = digest.hexdigest()
    if file_plan.sha256 is not None and actual != file_plan.sha256:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"checksum mismatch for {file_plan.repo_path}: sha256 {actual[:16]}…, "
            f"the repo lists {file_plan.sha256[:16]}…; the bad file was removed",
            code="checksum_mismatch",
            hint="run the command again; if it repeats, report it to the repo owner",
        )
    file_plan.blob.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, file_plan.blob)
    _write_marker(file_plan.blob, actual)
    progress.finish_file(file_plan)
