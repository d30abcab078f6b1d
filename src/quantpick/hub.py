"""The Hub adapter: one listing request, one header Range request, error mapping, an offline listing cache.

huggingface_hub is imported here, lazily, so commands that never touch the Hub start fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantpick.errors import HubError, InvalidValue, UsageError
from quantpick.gguf import (
    HeaderError,
    ModelShape,
    ShapeOutOfRange,
    read_metadata,
    shape_from_metadata,
    validated_shape,
)
from quantpick.http import RETRIES
from quantpick.naming import RepoFile

HEADER_CHUNK = 256 * 1024
HEADER_MAX_BYTES = 4 * 1024 * 1024  # a few MiB: the architecture keys sit in the first KiB
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_REPO_ID = 96 + 1 + 96  # the Hub's limit on owner and name lengths
AUTH_HINT = "run `hf auth login` or set HF_TOKEN with a token that has access"


@dataclass
class Listing:
    repo: str
    revision: str  # the commit everything else is pinned to
    requested_revision: str | None
    files: list[RepoFile]
    gated: bool = False
    cached: bool = False  # read from quantpick's cache (offline), not from the Hub
    shapes: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # header path -> shape (None: unreadable)

    def to_cache(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "revision": self.revision,
            "gated": self.gated,
            "files": [{"path": f.path, "size_bytes": f.size_bytes, "sha256": f.sha256} for f in self.files],
            "shapes": self.shapes,
        }


def validate_repo_id(repo: str) -> None:
    if len(repo) > MAX_REPO_ID or not _REPO_ID.match(repo) or ".." in repo or repo.endswith((".", "-")):
        shown = repo if len(repo) <= 60 else repo[:60] + "..."
        raise UsageError(
            f"{shown!r} is not a Hub repo id",
            hint="write it as OWNER/NAME, e.g. bartowski/Qwen_Qwen3-8B-GGUF",
            code="invalid_repo_id",
        )


def validate_revision(revision: str | None) -> None:
    """A branch, tag or commit: it becomes a path (refs/<revision>) in the cache, so no '..' and no control bytes."""
    if revision is None:
        return
    parts = revision.split("/")
    bad = (
        not revision
        or len(revision) > 256
        or revision.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
        or any(ord(c) < 32 or c in "\\\x7f" for c in revision)
    )
    if bad:
        shown = revision if len(revision) <= 60 else revision[:60] + "..."
        raise InvalidValue("revision", f"{shown!r} is not a branch, tag or commit", hint="e.g. main, v1.0 or a sha")


# --- the offline listing cache -------------------------------------------------------------------------


def cache_root() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "quantpick" / "listings"


def _repo_cache(repo: str) -> Path:
    return cache_root() / repo.replace("/", "--")


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(handle, "w") as stream:
        stream.write(json.dumps(data))  # the C encoder: json.dump() streams through the slow Python one
    os.replace(tmp, path)


def save_listing(listing: Listing, *, refs_only: bool = False) -> None:
    try:
        directory = _repo_cache(listing.repo)
        if not refs_only:
            _write_json(directory / f"{listing.revision}.json", listing.to_cache())
        refs_path = directory / "refs.json"
        refs = _read_json(refs_path) or {}
        ref = listing.requested_revision or "main"
        if refs.get(ref) != listing.revision:
            refs[ref] = listing.revision
            _write_json(refs_path, refs)
    except OSError:
        pass  # the cache only helps offline runs; never fail a command for it


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_cached_listing(repo: str, revision: str | None) -> Listing | None:
    directory = _repo_cache(repo)
    wanted = revision or "main"
    sha = wanted if _SHA.match(wanted) else (_read_json(directory / "refs.json") or {}).get(wanted)
    data = _read_json(directory / f"{sha}.json") if isinstance(sha, str) and _SHA.match(sha) else None
    if not isinstance(data, dict):
        return None
    try:  # a saved listing is input too: one that does not validate is ignored, never trusted
        files = [_valid_file(f.get("path"), f.get("size_bytes"), f.get("sha256")) for f in data["files"]]
        commit = _valid_commit(data["revision"])
        shapes = data.get("shapes") or {}
        if not isinstance(shapes, dict):
            raise InvalidListing("shapes")
    except (InvalidListing, KeyError, TypeError, AttributeError):
        return None
    return Listing(repo, commit, revision, files, bool(data.get("gated", False)), True, shapes)


class InvalidListing(ValueError):
    """A listing value of the wrong type or form (the field is the message)."""


def _valid_commit(value: object) -> str:
    if not isinstance(value, str) or not _SHA.match(value):
        raise InvalidListing("commit sha")
    return value


def _valid_file(path: object, size: object, sha256: object) -> RepoFile:
    if not isinstance(path, str) or not path or len(path) > 4096 or "\0" in path:
        raise InvalidListing("rfilename")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0 or size > 1 << 50:
        raise InvalidListing(f"size of {path!r}")
    if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.match(sha256)):
        raise InvalidListing(f"sha256 of {path!r}")
    return RepoFile(path, size, sha256)


def _invalid_listing(repo: str, what: str) -> HubError:
    return HubError(
        f"the Hub sent an invalid listing for {repo} (bad {what})",
        code="invalid_listing",
        hint="check HF_ENDPOINT points at the Hugging Face Hub, or try again later",
    )


# --- requests ------------------------------------------------------------------------------------------


def is_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


MAX_LISTING_BYTES = 64 * 1024 * 1024  # a repo of 100,000 files lists in about 20 MiB


def fetch_listing(repo: str, revision: str | None = None) -> Listing:
    """Every file of the repo at `revision` with size and sha256, in one request; offline: the saved listing."""
    validate_repo_id(repo)
    validate_revision(revision)
    if is_offline():
        cached = load_cached_listing(repo, revision)
        if cached is None:
            raise HubError(
                f"offline mode (HF_HUB_OFFLINE) and no saved listing of {repo}{'@' + revision if revision else ''}",
                code="offline",
                hint="run the same command once online; quantpick keeps the listing for offline use",
            )
        return cached
    from urllib.parse import quote

    from huggingface_hub import constants

    from quantpick.http import get_bytes

    url = f"{constants.ENDPOINT}/api/models/{repo}"
    if revision is not None:
        url += f"/revision/{quote(revision, safe='')}"
    try:
        body = get_bytes(url, params={"blobs": True}, max_bytes=MAX_LISTING_BYTES)
    except expected_errors() as exc:
        raise hub_error(exc, repo, revision) from exc
    try:
        listing = listing_from_json(repo, revision, json.loads(body))
    except (InvalidListing, ValueError, RecursionError) as exc:
        what = str(exc) if isinstance(exc, InvalidListing) else "JSON"
        raise _invalid_listing(repo, what) from None
    previous = load_cached_listing(repo, listing.revision)
    if previous is not None and previous.files == listing.files:
        listing.shapes = previous.shapes  # a commit never changes: its header is read once
        save_listing(listing, refs_only=True)
    else:
        save_listing(listing)
    return listing


def listing_from_json(repo: str, revision: str | None, data: object) -> Listing:
    """The Hub's model-info answer (with blobs), validated: raises InvalidListing naming the bad field."""
    if not isinstance(data, dict):
        raise InvalidListing("model info")
    siblings = data.get("siblings")
    if siblings is None:
        siblings = []
    if not isinstance(siblings, list):
        raise InvalidListing("siblings")
    files = []
    for sibling in siblings:
        if not isinstance(sibling, dict):
            raise InvalidListing("file entry")
        lfs = sibling.get("lfs")
        if lfs is not None and not isinstance(lfs, dict):
            raise InvalidListing("lfs entry")
        size = sibling.get("size")
        if size is None and lfs is not None:
            size = lfs.get("size")
        sha256 = lfs.get("sha256") if lfs is not None else None
        files.append(_valid_file(sibling.get("rfilename"), 0 if size is None else size, sha256))
    gated = data.get("gated", False)
    return Listing(repo, _valid_commit(data.get("sha")), revision, files, gated=gated not in (False, None))


def read_shape(listing: Listing, path: str) -> tuple[ModelShape | None, str]:
    """The model shape from `path`'s GGUF header: one Range request, at most a few MiB, remembered per commit."""
    if path in listing.shapes:
        cached = listing.shapes[path]
        shape = _shape_from_cache(cached)
        if shape is not None:
            return shape, "header (cached)"
        return None, "header unreadable (cached)"
    if listing.cached or is_offline():
        return None, "header not read (offline)"
    shape, status = _fetch_shape(listing, path)
    remembered = ("header: not a readable GGUF", "header: shape keys missing", "header: out-of-range")
    if shape is not None or status.startswith(remembered):
        # only what the file itself says is remembered; access and network failures are retried next time
        listing.shapes[path] = shape.to_dict() if shape else None
        save_listing(listing)
    return shape, status


def _shape_from_cache(cached: dict[str, Any] | None) -> ModelShape | None:
    if not isinstance(cached, dict):
        return None
    try:  # a saved shape is input too: bounded like a fresh one
        return validated_shape(ModelShape.from_dict(cached))
    except (TypeError, ValueError, ShapeOutOfRange):
        return None


def _fetch_shape(listing: Listing, path: str) -> tuple[ModelShape | None, str]:
    from huggingface_hub import hf_hub_url

    from quantpick.http import get_bytes

    url = hf_hub_url(listing.repo, path, revision=listing.revision)
    parsed: dict[str, Any] = {"values": {}, "length": -1, "at": HEADER_CHUNK}

    def enough(buffer: bytearray) -> bool:
        if len(buffer) < parsed["at"]:
            return False
        parsed["at"] = len(buffer) + HEADER_CHUNK
        parsed["values"], complete = read_metadata(bytes(buffer[:HEADER_MAX_BYTES]))
        parsed["length"] = len(buffer)
        return complete  # stop reading: the rest is the tokenizer and tensor data

    try:
        body = get_bytes(
            url, headers={"Range": f"bytes=0-{HEADER_MAX_BYTES - 1}"}, max_bytes=HEADER_MAX_BYTES, stop=enough
        )
        values = parsed["values"]
        if parsed["length"] != len(body):  # the body ended between two parses: read what came last
            values, _complete = read_metadata(body)
    except HeaderError:
        return None, "header: not a readable GGUF"
    except expected_errors() as exc:
        mapped = hub_error(exc, listing.repo, listing.revision)
        if mapped.code in ("gated", "repo_not_found", "unauthorized"):
            return None, f"header: {mapped.code}"
        return None, "header: network error"
    try:
        shape = shape_from_metadata(values)
    except ShapeOutOfRange as exc:
        return None, f"header: out-of-range {exc}"
    return shape, ("header" if shape else "header: shape keys missing")


# --- errors --------------------------------------------------------------------------------------------


def expected_errors() -> tuple[type[BaseException], ...]:
    """What a Hub request may raise that is the network's or the Hub's doing, not a bug of ours."""
    import httpx2
    from huggingface_hub import errors as hf_errors

    from quantpick.http import BodyTooLarge, RetryableStatus

    return (
        RetryableStatus,
        BodyTooLarge,
        hf_errors.HfHubHTTPError,
        hf_errors.OfflineModeIsEnabled,
        hf_errors.HFValidationError,
        hf_errors.EntryNotFoundError,
        httpx2.TransportError,
        httpx2.HTTPError,
        ConnectionError,
        TimeoutError,
    )


_ErrorBuilder = Callable[[BaseException, str, str, "str | None"], HubError]


def _gated(exc: BaseException, repo: str, rev: str, path: str | None) -> HubError:
    return HubError(
        f"{repo} is gated: downloading needs approved access",
        code="gated",
        hint=f"accept the conditions on the repo page, then {AUTH_HINT}",
    )


def _revision_not_found(exc: BaseException, repo: str, rev: str, path: str | None) -> HubError:
    return HubError(
        f"revision {rev!r} not found in {repo}",
        code="revision_not_found",
        hint="check the branch, tag or commit; without a revision quantpick reads main",
    )


def _repo_not_found(exc: BaseException, repo: str, rev: str, path: str | None) -> HubError:
    return HubError(
        f"repo {repo} not found (or private)",
        code="repo_not_found",
        hint="check the spelling; if it is an original safetensors repo, look for its -GGUF "
        f"version; for a private repo, {AUTH_HINT}",
    )


def _entry_not_found(exc: BaseException, repo: str, rev: str, path: str | None) -> HubError:
    return HubError(
        f"{path or 'a file'} not found in {repo}@{rev}", code="file_not_found", hint="the repo changed: run it again"
    )


def _offline(exc: BaseException, repo: str, rev: str, path: str | None) -> HubError:
    return HubError(
        "offline mode is on (HF_HUB_OFFLINE) and this needs the Hub",
        code="offline",
        hint="unset HF_HUB_OFFLINE, or run it once online first",
    )


def _http_status(exc: BaseException, repo: str, rev: str, path: str | None) -> HubError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return HubError(f"the Hub refused access to {repo} (HTTP {status})", code="unauthorized", hint=AUTH_HINT)
    return HubError(
        f"the Hub answered HTTP {status} for {repo}", code="hub_http_error", hint="try again later; the Hub may be busy"
    )


def _network(exc: BaseException, repo: str, rev: str, path: str | None) -> HubError:
    return HubError(
        f"cannot reach the Hub ({_endpoint()}): {short_error(exc)}",
        code="network",
        hint="check the connection (or HF_ENDPOINT); set QUANTPICK_TIMEOUT to wait longer, "
        "or HF_HUB_OFFLINE=1 to use saved listings",
    )


def _busy(exc: BaseException, repo: str, rev: str, path: str | None) -> HubError:
    return HubError(
        f"the Hub is busy: {exc} for {repo}, after {RETRIES} retries",
        code="hub_busy",
        hint="try again in a few minutes",
    )


def _too_large(exc: BaseException, repo: str, rev: str, path: str | None) -> HubError:
    return HubError(f"the Hub sent an invalid listing for {repo} ({exc})", code="invalid_listing")


def _validation(exc: BaseException, repo: str, rev: str, path: str | None) -> HubError:
    return HubError(f"invalid repo id or revision: {short_error(exc)}", code="invalid_argument")


def _error_table() -> dict[type[BaseException], _ErrorBuilder]:
    import httpx2
    from huggingface_hub import errors as hf_errors

    from quantpick.http import BodyTooLarge, DeadlineExceeded, RetryableStatus

    return {
        RetryableStatus: _busy,
        BodyTooLarge: _too_large,
        DeadlineExceeded: _network,
        hf_errors.GatedRepoError: _gated,
        hf_errors.RevisionNotFoundError: _revision_not_found,
        hf_errors.RepositoryNotFoundError: _repo_not_found,
        hf_errors.RemoteEntryNotFoundError: _entry_not_found,
        hf_errors.EntryNotFoundError: _entry_not_found,
        hf_errors.OfflineModeIsEnabled: _offline,
        hf_errors.HfHubHTTPError: _http_status,
        hf_errors.HFValidationError: _validation,
        httpx2.TransportError: _network,
        ConnectionError: _network,
        TimeoutError: _network,
    }


def hub_error(exc: BaseException, repo: str, revision: str | None, path: str | None = None) -> HubError:
    """One clear HubError (exit 4) for whatever huggingface_hub or its HTTP client raised.

    The table is searched along the exception's MRO, so the most specific class wins whatever the
    table's order (GatedRepoError before RepositoryNotFoundError before HfHubHTTPError); a network
    error wrapped in another exception is found through its cause chain.
    """
    table = _error_table()
    rev = revision or "main"
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        for cls in type(seen).__mro__:
            builder = table.get(cls)
            if builder is not None:
                return builder(seen, repo, rev, path)
        seen = seen.__cause__ or seen.__context__
    return HubError(f"Hub request failed: {short_error(exc)}", code="hub_error")


def _endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def short_error(exc: BaseException) -> str:
    """An exception's first line, for a one-line message."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- finding GGUF repos ----------------------------------------------------------------------------------

MAX_SEARCH_BYTES = 8 << 20
SEARCH_LIMIT = 20


@dataclass(frozen=True)
class RepoHit:
    """One repo a search found: what the Hub says of it, validated."""

    repo: str
    downloads: int
    last_modified: str | None
    parameters: int | None  # the Hub's gguf.total
    tags: tuple[str, ...]

    @property
    def author(self) -> str:
        return self.repo.split("/")[0]

    def to_cache(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "downloads": self.downloads,
            "last_modified": self.last_modified,
            "parameters": self.parameters,
            "tags": list(self.tags),
        }


def _search_key(filters: tuple[str, ...], search: str | None) -> Path:
    import hashlib

    key = hashlib.sha256(json.dumps([list(filters), search]).encode()).hexdigest()[:32]
    return cache_root().parent / "searches" / f"{key}.json"


def _hit(item: object) -> RepoHit | None:
    """A search result, or None when it does not validate (it is skipped, never trusted)."""
    if not isinstance(item, dict):
        return None
    repo = item.get("id") if isinstance(item.get("id"), str) else item.get("repo")
    if not isinstance(repo, str):
        return None
    try:
        validate_repo_id(repo)
    except UsageError:
        return None
    downloads = item.get("downloads")
    modified = item.get("lastModified", item.get("last_modified"))
    gguf = item.get("gguf")
    parameters = gguf.get("total") if isinstance(gguf, dict) else item.get("parameters")
    tags = item.get("tags")
    return RepoHit(
        repo,
        downloads if isinstance(downloads, int) and not isinstance(downloads, bool) and downloads >= 0 else 0,
        modified if isinstance(modified, str) and len(modified) <= 64 else None,
        parameters
        if isinstance(parameters, int) and not isinstance(parameters, bool) and 0 < parameters < 1 << 50
        else None,
        tuple(t for t in tags if isinstance(t, str) and len(t) <= 256)[:200] if isinstance(tags, list) else (),
    )


def search_repos(
    filters: tuple[str, ...], search: str | None = None, limit: int = SEARCH_LIMIT
) -> tuple[list[RepoHit], bool]:
    """GGUF repos by tags (all of them) and free text, most downloaded first, in one request.

    Returns (hits, cached): offline, or when the Hub cannot be reached, the results saved last time.
    """
    saved = _search_key(filters, search)
    if is_offline():
        data = _read_json(saved)
        if not isinstance(data, list):
            raise HubError(
                "offline mode (HF_HUB_OFFLINE) and no saved search for this",
                code="offline",
                hint="run the same command once online; quantpick keeps the results for offline use",
            )
        return [h for h in (_hit(item) for item in data) if h is not None][:limit], True
    from huggingface_hub import constants

    from quantpick.http import get_bytes

    params: dict[str, Any] = {
        "filter": list(filters),
        "sort": "downloads",
        "direction": -1,
        "limit": limit,
        "expand": ["downloads", "lastModified", "tags", "gguf"],
    }
    if search:
        params["search"] = search
    try:
        body = get_bytes(f"{constants.ENDPOINT}/api/models", params=params, max_bytes=MAX_SEARCH_BYTES)
        data = json.loads(body)
    except expected_errors() as exc:
        raise hub_error(exc, "the Hub search", None) from exc
    except ValueError:
        raise HubError("the Hub sent an invalid search answer", code="invalid_listing") from None
    if not isinstance(data, list):
        raise HubError("the Hub sent an invalid search answer", code="invalid_listing")
    hits = [h for h in (_hit(item) for item in data[: limit * 2]) if h is not None][:limit]
    with contextlib.suppress(OSError):  # the saved search only helps offline runs
        _write_json(saved, [h.to_cache() for h in hits])
    return hits, False
