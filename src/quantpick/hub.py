"""The Hub adapter: one listing request, one header Range request, error mapping, an offline listing cache.

huggingface_hub is imported here, lazily, so commands that never touch the Hub start fast.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantpick import __version__
from quantpick.errors import HubError, UsageError
from quantpick.gguf import HeaderError, ModelShape, read_metadata, shape_from_metadata
from quantpick.naming import RepoFile

HEADER_CHUNK = 256 * 1024
HEADER_MAX_BYTES = 4 * 1024 * 1024  # a few MiB: the architecture keys sit in the first KiB
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_REPO_ID = 96 + 1 + 96  # the Hub's limit on owner and name lengths
AUTH_HINT = "run `hf auth login` or set HF_TOKEN with a token that has access"


def timeout_seconds() -> float:
    try:
        return float(os.environ.get("QUANTPICK_TIMEOUT", "15"))
    except ValueError:
        return 15.0


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


def fetch_listing(repo: str, revision: str | None = None) -> Listing:
    """Every file of the repo at `revision` with size and sha256, in one request; offline: the saved listing."""
    validate_repo_id(repo)
    if is_offline():
        cached = load_cached_listing(repo, revision)
        if cached is None:
            raise HubError(
                f"offline mode (HF_HUB_OFFLINE) and no saved listing of {repo}{'@' + revision if revision else ''}",
                code="offline",
                hint="run the same command once online; quantpick keeps the listing for offline use",
            )
        return cached
    from huggingface_hub import HfApi

    api = HfApi(library_name="quantpick", library_version=__version__)
    try:
        info = api.model_info(repo, revision=revision, files_metadata=True, timeout=timeout_seconds())
    except (KeyError, TypeError, AttributeError):  # huggingface_hub could not parse what the server sent
        raise _invalid_listing(repo, "model info") from None
    except expected_errors() as exc:
        raise hub_error(exc, repo, revision) from exc
    try:
        files = []
        for sibling in info.siblings or []:
            lfs = sibling.lfs
            size = sibling.size if sibling.size is not None else (lfs.size if lfs else 0)
            sha256 = lfs.sha256 if lfs else None
            files.append(_valid_file(sibling.rfilename, size, sha256))
        listing = Listing(repo, _valid_commit(info.sha), revision, files, gated=bool(info.gated))
    except (InvalidListing, AttributeError, TypeError) as exc:
        raise _invalid_listing(repo, str(exc) or "file entry") from None
    previous = load_cached_listing(repo, listing.revision)
    if previous is not None and previous.files == files:
        listing.shapes = previous.shapes  # a commit never changes: its header is read once
        save_listing(listing, refs_only=True)
    else:
        save_listing(listing)
    return listing


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
    if shape is not None or status in ("header: not a readable GGUF", "header: shape keys missing"):
        # only what the file itself says is remembered; access and network failures are retried next time
        listing.shapes[path] = shape.to_dict() if shape else None
        save_listing(listing)
    return shape, status


def _shape_from_cache(cached: dict[str, Any] | None) -> ModelShape | None:
    if not isinstance(cached, dict):
        return None
    try:
        return ModelShape.from_dict(cached)
    except (TypeError, ValueError):
        return None


def _fetch_shape(listing: Listing, path: str) -> tuple[ModelShape | None, str]:
    from huggingface_hub import get_session, hf_hub_url, hf_raise_for_status
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # public, re-exported lazily

    url = hf_hub_url(listing.repo, path, revision=listing.revision)
    headers = build_hf_headers(library_name="quantpick", library_version=__version__)
    headers["Range"] = f"bytes=0-{HEADER_MAX_BYTES - 1}"
    buffer = bytearray()
    values: dict[str, Any] = {}
    parsed_length = -1
    try:
        with get_session().stream("GET", url, headers=headers, timeout=timeout_seconds()) as response:
            hf_raise_for_status(response)
            next_parse = HEADER_CHUNK
            for chunk in response.iter_bytes(64 * 1024):
                buffer += chunk
                if len(buffer) >= next_parse or len(buffer) >= HEADER_MAX_BYTES:
                    next_parse = len(buffer) + HEADER_CHUNK
                    values, complete = read_metadata(bytes(buffer[:HEADER_MAX_BYTES]))
                    parsed_length = len(buffer)
                    if complete or len(buffer) >= HEADER_MAX_BYTES:
                        break  # stop reading: the rest is the tokenizer and tensor data
    except HeaderError:
        return None, "header: not a readable GGUF"
    except expected_errors() as exc:
        mapped = hub_error(exc, listing.repo, listing.revision)
        if mapped.code in ("gated", "repo_not_found", "unauthorized"):
            return None, f"header: {mapped.code}"
        return None, "header: network error"
    if parsed_length != len(buffer):  # the body ended between two parses: read what came last
        try:
            values, _complete = read_metadata(bytes(buffer[:HEADER_MAX_BYTES]))
        except HeaderError:
            return None, "header: not a readable GGUF"
    shape = shape_from_metadata(values)
    return shape, ("header" if shape else "header: shape keys missing")


# --- errors --------------------------------------------------------------------------------------------


def expected_errors() -> tuple[type[BaseException], ...]:
    """What a Hub request may raise that is the network's or the Hub's doing, not a bug of ours."""
    import httpx2
    from huggingface_hub import errors as hf_errors

    return (
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
        f"cannot reach the Hub ({_endpoint()}): {_short(exc)}",
        code="network",
        hint="check the connection (or HF_ENDPOINT); set QUANTPICK_TIMEOUT to wait longer, "
        "or HF_HUB_OFFLINE=1 to use saved listings",
    )


def _validation(exc: BaseException, repo: str, rev: str, path: str | None) -> HubError:
    return HubError(f"invalid repo id or revision: {_short(exc)}", code="invalid_argument")


def _error_table() -> dict[type[BaseException], _ErrorBuilder]:
    import httpx2
    from huggingface_hub import errors as hf_errors

    return {
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
    return HubError(f"Hub request failed: {_short(exc)}", code="hub_error")


def _endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
