"""The Hub adapter: one listing request, one header Range request, error mapping, an offline listing cache.

huggingface_hub is imported here, lazily, so commands that never touch the Hub start fast.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from quantpick import __version__
from quantpick.errors import HubError, UsageError
from quantpick.gguf import HeaderError, ModelShape, read_metadata, shape_from_metadata
from quantpick.naming import RepoFile

HEADER_CHUNK = 256 * 1024
HEADER_MAX_BYTES = 4 * 1024 * 1024  # a few MiB: the architecture keys sit in the first KiB
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_SHA = re.compile(r"^[0-9a-f]{40}$")
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
    shapes: dict[str, dict | None] = field(default_factory=dict)  # header path -> shape (None: unreadable)

    def to_cache(self) -> dict:
        return {
            "repo": self.repo,
            "revision": self.revision,
            "gated": self.gated,
            "files": [{"path": f.path, "size_bytes": f.size_bytes, "sha256": f.sha256} for f in self.files],
            "shapes": self.shapes,
        }


def validate_repo_id(repo: str) -> None:
    if not _REPO_ID.match(repo or "") or ".." in repo or repo.endswith((".", "-")):
        raise UsageError(
            f"{repo!r} is not a Hub repo id",
            hint="write it as OWNER/NAME, e.g. bartowski/Qwen_Qwen3-8B-GGUF",
            code="invalid_repo_id",
        )


# --- the offline listing cache -------------------------------------------------------------------------


def cache_root() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "quantpick" / "listings"


def _repo_cache(repo: str) -> Path:
    return cache_root() / repo.replace("/", "--")


def _write_json(path: Path, data) -> None:
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


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_cached_listing(repo: str, revision: str | None) -> Listing | None:
    directory = _repo_cache(repo)
    wanted = revision or "main"
    sha = wanted if _SHA.match(wanted) else (_read_json(directory / "refs.json") or {}).get(wanted)
    data = _read_json(directory / f"{sha}.json") if sha else None
    if not data:
        return None
    files = [RepoFile(f["path"], f["size_bytes"], f.get("sha256")) for f in data["files"]]
    return Listing(repo, data["revision"], revision, files, data.get("gated", False), True, data.get("shapes") or {})


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
    except Exception as exc:
        raise hub_error(exc, repo, revision) from exc
    files = []
    for sibling in info.siblings or []:
        lfs = sibling.lfs
        size = sibling.size if sibling.size is not None else (lfs.size if lfs else 0)
        sha256 = getattr(lfs, "sha256", None) if lfs else None
        files.append(RepoFile(sibling.rfilename, int(size or 0), sha256))
    listing = Listing(repo, info.sha, revision, files, gated=bool(info.gated))
    previous = load_cached_listing(repo, info.sha)
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
        return (ModelShape.from_dict(cached), "header (cached)") if cached else (None, "header unreadable (cached)")
    if listing.cached or is_offline():
        return None, "header not read (offline)"
    shape, status = _fetch_shape(listing, path)
    if shape is not None or status in ("header: not a readable GGUF", "header: shape keys missing"):
        # only what the file itself says is remembered; access and network failures are retried next time
        listing.shapes[path] = shape.to_dict() if shape else None
        save_listing(listing)
    return shape, status


def _fetch_shape(listing: Listing, path: str) -> tuple[ModelShape | None, str]:
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = hf_hub_url(listing.repo, path, revision=listing.revision)
    headers = build_hf_headers(library_name="quantpick", library_version=__version__)
    headers["Range"] = f"bytes=0-{HEADER_MAX_BYTES - 1}"
    buffer = bytearray()
    values, parsed_length = {}, -1
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
    except Exception as exc:
        mapped = hub_error(exc, listing.repo, listing.revision)
        if mapped.code in ("gated", "repo_not_found"):
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


def hub_error(exc: BaseException, repo: str, revision: str | None, path: str | None = None) -> HubError:
    """One clear HubError (exit 4) for whatever huggingface_hub or its HTTP client raised."""
    from huggingface_hub import errors as hf_errors

    rev = revision or "main"
    if isinstance(exc, hf_errors.GatedRepoError):
        return HubError(
            f"{repo} is gated: downloading needs approved access",
            code="gated",
            hint=f"accept the conditions on the repo page, then {AUTH_HINT}",
        )
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return HubError(
            f"revision {rev!r} not found in {repo}",
            code="revision_not_found",
            hint="check the branch, tag or commit; omit --revision for main",
        )
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        return HubError(
            f"repo {repo} not found (or private)",
            code="repo_not_found",
            hint="check the spelling; if it is an original safetensors repo, look for its -GGUF "
            f"version; for a private repo, {AUTH_HINT}",
        )
    if isinstance(exc, hf_errors.EntryNotFoundError) and not isinstance(exc, hf_errors.LocalEntryNotFoundError):
        return HubError(
            f"{path or 'a file'} not found in {repo}@{rev}",
            code="file_not_found",
            hint="the repo changed: run the command again",
        )
    if isinstance(exc, hf_errors.OfflineModeIsEnabled):
        return HubError(
            "offline mode is on (HF_HUB_OFFLINE) and this needs the Hub",
            code="offline",
            hint="unset HF_HUB_OFFLINE, or run it once online first",
        )
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return HubError(f"the Hub refused access to {repo} (HTTP {status})", code="unauthorized", hint=AUTH_HINT)
        return HubError(
            f"the Hub answered HTTP {status} for {repo}",
            code="hub_http_error",
            hint="try again later; the Hub may be busy",
        )
    if _is_network_error(exc):
        return HubError(
            f"cannot reach the Hub ({_endpoint()}): {_short(exc)}",
            code="network",
            hint="check the connection (or HF_ENDPOINT); set QUANTPICK_TIMEOUT to wait longer, "
            "or HF_HUB_OFFLINE=1 to use saved listings",
        )
    if isinstance(exc, hf_errors.HFValidationError):
        return HubError(f"invalid repo id or revision: {exc}", code="invalid_argument")
    return HubError(f"Hub request failed: {_short(exc)}", code="hub_error")


def _is_network_error(exc: BaseException) -> bool:
    import httpx2

    seen = exc
    for _ in range(5):
        if isinstance(seen, (httpx2.TransportError, ConnectionError, TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
        if seen is None:
            return False
    return False


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
