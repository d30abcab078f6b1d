"""A local Hugging Face Hub for tests and benchmarks: the API subset huggingface_hub 2.x speaks.

Standard library only. Serves model info (with blobs), tree, paths-info and resolve (HEAD/GET with
Range), sends X-Repo-Commit / ETag / X-Linked-Size, and answers errors with X-Error-Code the way the
Hub does. It counts every request and every body byte, and can cut, stall or corrupt a download.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, bytes]
    commit: str
    refs: dict[str, str] = field(default_factory=dict)
    gated: bool = False
    private: bool = False
    tokens: set[str] = field(default_factory=set)
    tags: list[str] = field(default_factory=list)  # the Hub's tags: gguf, base_model:quantized:OWNER/NAME, ...
    downloads: int = 0
    last_modified: str = "2026-01-01T00:00:00.000Z"
    parameters: int | None = None  # the Hub's gguf.total (parameter count), served with expand=gguf
    _sha256: dict[str, str] = field(default_factory=dict, repr=False)
    _blob_id: dict[str, str] = field(default_factory=dict, repr=False)

    def lfs(self, path: str) -> bool:
        return path.endswith(".gguf") or ".gguf." in path or len(self.files[path]) > 1024 * 1024

    def sha256(self, path: str) -> str:
        if path not in self._sha256:
            self._sha256[path] = hashlib.sha256(self.files[path]).hexdigest()
        return self._sha256[path]

    def blob_id(self, path: str) -> str:
        if path not in self._blob_id:
            data = self.files[path]
            self._blob_id[path] = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        return self._blob_id[path]


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int
    authorization: bool


class LocalHub:
    """Start with `with LocalHub() as hub:`; point clients at `hub.url` (HF_ENDPOINT)."""

    def __init__(self):
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.drop_after: dict[str, int] = {}  # path -> cut the connection after this many body bytes (once)
        self.cut_always: dict[str, int] = {}  # path -> cut every response after this many body bytes
        self.stall_after: dict[str, int] = {}  # path -> stop sending after this many bytes until released
        self.stalled = threading.Event()  # set when a stalled transfer has sent its bytes
        self.release = threading.Event()
        self.corrupt: set[str] = set()  # paths served with one byte flipped
        self.hang_api = False  # accept model-info requests and never answer them
        # Hostile behaviours for tests/faults (reset by the tests' autouse fixture through reset_faults):
        self.api_override: dict[str, object] = {}  # repo -> the JSON its model info answers with
        # path part -> (status, headers) answered in turn before the real answers; status 0 lets one through
        self.script: dict[str, list[tuple[int, dict]]] = {}
        self.drip: dict[str, float] = {}  # path part -> seconds between single bytes of the body
        self.throttle: dict[str, float] = {}  # file path -> seconds per 256 KiB block
        self.short_body: dict[str, int] = {}  # file path -> send only this many bytes, as a 200 ignoring Range
        self.hang_resolve: set[str] = set()  # file paths whose downloads send headers, then nothing
        self.no_range: set[str] = set()  # file paths served whole (200) whatever Range asks
        # A CDN: resolve answers 302 to /cdn/..., which serves the bytes (as the Hub's LFS files are served).
        self.cdn_redirect = False
        # Bandwidth caps in bytes/s (None: loopback speed): per connection, as a CDN caps one stream, and total.
        self.per_connection_bps: float | None = None
        self.total_bps: float | None = None
        self._pace_lock = threading.Lock()
        self._pace_next = 0.0
        self.server = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> LocalHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        gated: bool = False,
        private: bool = False,
        tokens: set[str] | None = None,
        refs: dict[str, str] | None = None,
        tags: list[str] | None = None,
        downloads: int = 0,
        last_modified: str = "2026-01-01T00:00:00.000Z",
        parameters: int | None = None,
    ) -> FakeRepo:
        commit = hashlib.sha1((repo_id + "\0".join(sorted(files))).encode()).hexdigest()
        if tags is None:
            tags = ["gguf"] if any(name.endswith(".gguf") for name in files) else []
        repo = FakeRepo(
            repo_id,
            dict(files),
            commit,
            refs or {},
            gated,
            private,
            tokens or set(),
            list(tags),
            downloads,
            last_modified,
            parameters,
        )
        repo.refs.setdefault("main", commit)
        self.repos[repo_id] = repo
        return repo

    def reset_faults(self) -> None:
        self.drop_after.clear()
        self.cut_always.clear()
        self.stall_after.clear()
        self.corrupt.clear()
        self.release.clear()
        self.stalled.clear()
        self.hang_api = False
        self.api_override.clear()
        self.script.clear()
        self.drip.clear()
        self.throttle.clear()
        self.short_body.clear()
        self.hang_resolve.clear()
        self.no_range.clear()
        self.cdn_redirect = False
        self.per_connection_bps = None
        self.total_bps = None

    def pace(self, num_bytes: int) -> float:
        """When this many more bytes may leave under the total cap (a shared clock)."""
        if not self.total_bps:
            return 0.0
        with self._pace_lock:
            start = max(time.monotonic(), self._pace_next)
            self._pace_next = start + num_bytes / self.total_bps
        return start

    def count(self, method: str | None = None, path_contains: str = "") -> int:
        return sum(1 for r in self.requests if (method is None or r.method == method) and path_contains in r.path)

    def body_bytes(self, path_contains: str = "") -> int:
        return sum(
            r.body_bytes
            for r in self.requests
            if path_contains in r.path and r.method == "GET" and ("/resolve/" in r.path or r.path.startswith("/cdn/"))
        )

    def reset_counts(self) -> None:
        with self.lock:
            self.requests.clear()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # clients that hang up early are normal here
        pass


_MODEL = re.compile(r"^/api/models/([^/]+/[^/]+?)(?:/revision/(.+))?$")
_REFS = re.compile(r"^/api/models/([^/]+/[^/]+)/refs$")
_TREE = re.compile(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?$")
_PATHS = re.compile(r"^/api/models/([^/]+/[^/]+)/paths-info/([^/]+)$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_CDN = re.compile(r"^/cdn/([^/]+/[^/]+)/([^/]+)/(.+)$")


def _make_handler(hub: LocalHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _record(self, status: int, body_bytes: int) -> Request:
            # Recorded when the answer starts, not when the body ends: a client that stops reading early
            # (the header reader) has its request counted before it returns.
            request = Request(
                self.command,
                urlsplit(self.path).path,
                self.headers.get("Range"),
                status,
                body_bytes,
                "authorization" in self.headers,
            )
            with hub.lock:
                hub.requests.append(request)
            return request

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, *, head: bool = False) -> None:
            # Recorded before the first byte leaves: once the client has its answer the count must include it.
            self._record(status, 0 if head else len(body))
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head and body:
                self.wfile.write(body)

        def _json(self, data, headers: dict | None = None) -> None:
            self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

        def _error(self, status: int, code: str, message: str, head: bool = False, extra: dict | None = None):
            body = json.dumps({"error": message}).encode()
            headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}
            self._send(status, body, {**headers, **(extra or {})}, head=head)

        def _token(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            return auth[7:] if auth.startswith("Bearer ") else None

        def _repo(self, repo_id: str, head: bool = False) -> FakeRepo | None:
            repo = hub.repos.get(unquote(repo_id))
            if repo is None or repo.private and self._token() not in repo.tokens:
                self._error(401, "RepoNotFound", "Repository not found", head)
                return None
            return repo

        def _commit(self, repo: FakeRepo, revision: str | None, head: bool = False) -> str | None:
            revision = unquote(revision or "main")
            if revision == repo.commit or revision in repo.refs:
                return repo.refs.get(revision, revision)
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
            return None

        def do_GET(self):
            self._dispatch(head=False)

        def do_HEAD(self):
            self._dispatch(head=True)

        def do_POST(self):
            path = urlsplit(self.path).path
            match = _PATHS.match(path)
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            if not match:
                return self._error(404, "NotFound", "no such endpoint")
            repo = self._repo(match.group(1))
            if repo is None or self._commit(repo, match.group(2)) is None:
                return
            wanted = [p for p in form.get("paths", []) if p in repo.files]
            self._json([self._tree_entry(repo, p) for p in wanted])

        def _search(self, query: dict[str, list[str]]):
            """GET /api/models: every filter is a tag the repo must have, search is a substring of the id."""
            filters = [f for value in query.get("filter", []) for f in value.split(",") if f]
            text = query.get("search", [""])[0].lower()
            author = query.get("author", [None])[0]
            found = [
                r
                for r in hub.repos.values()
                if not r.private
                and all(f in r.tags for f in filters)
                and text in r.repo_id.lower()
                and (author is None or r.repo_id.split("/")[0] == author)
            ]
            if query.get("sort", [""])[0] == "downloads":
                found.sort(key=lambda r: -r.downloads)
            limit = int(query.get("limit", ["1000"])[0])
            expand = set(query.get("expand", []))
            items = []
            for r in found[:limit]:
                item = {
                    "id": r.repo_id,
                    "modelId": r.repo_id,
                    "author": r.repo_id.split("/")[0],
                    "downloads": r.downloads,
                    "likes": 0,
                    "tags": r.tags,
                    "lastModified": r.last_modified,
                    "private": False,
                    "gated": "manual" if r.gated else False,
                }
                if "gguf" in expand and r.parameters is not None:
                    item["gguf"] = {"total": r.parameters, "architecture": "llama", "context_length": 8192}
                items.append(item)
            return self._json(items)

        def _tree_entry(self, repo: FakeRepo, path: str) -> dict:
            entry = {"type": "file", "oid": repo.blob_id(path), "size": len(repo.files[path]), "path": path}
            if repo.lfs(path):
                entry["lfs"] = {"oid": repo.sha256(path), "size": len(repo.files[path]), "pointerSize": 134}
            return entry

        def _scripted(self, path: str, head: bool) -> bool:
            for part, answers in hub.script.items():
                if part in path and answers:
                    status, headers = answers.pop(0)
                    if status == 0:  # let this one through
                        return False
                    self._error(status, "Scripted", f"scripted {status}", head, headers)
                    return True
            return False

        def _dripped(self, path: str, body: bytes) -> bool:
            delay = next((d for part, d in hub.drip.items() if part in path), None)
            if delay is None:
                return False
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            record = self._record(200, 0)
            try:
                for index in range(len(body)):
                    if hub.release.wait(delay):
                        break
                    self.wfile.write(body[index : index + 1])
                    self.wfile.flush()
                    record.body_bytes = index + 1
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return True

        def _dispatch(self, head: bool):
            split = urlsplit(self.path)
            path, query = split.path, parse_qs(split.query)
            if self._scripted(path, head):
                return
            if path == "/api/models":
                return self._search(query)
            if match := _REFS.match(path):
                repo = self._repo(match.group(1), head)
                if repo is None:
                    return None
                branches = [
                    {"name": name, "ref": f"refs/heads/{name}", "targetCommit": sha} for name, sha in repo.refs.items()
                ]
                return self._json({"branches": branches, "tags": [], "converts": []})
            if match := _TREE.match(path):
                repo = self._repo(match.group(1), head)
                if repo is None or self._commit(repo, match.group(2), head) is None:
                    return
                prefix = unquote(match.group(3) or "")
                entries = [self._tree_entry(repo, p) for p in sorted(repo.files) if p.startswith(prefix)]
                folders = sorted({p.rsplit("/", 1)[0] for p in repo.files if "/" in p})
                entries += [{"type": "directory", "oid": "0" * 40, "path": f} for f in folders]
                return self._json(entries)
            if match := _MODEL.match(path):
                if hub.hang_api:
                    hub.release.wait(60)
                    return
                repo = self._repo(match.group(1), head)
                if repo is None:
                    return
                commit = self._commit(repo, match.group(2), head)
                if commit is None:
                    return
                if repo.repo_id in hub.api_override:
                    override = json.dumps(hub.api_override[repo.repo_id]).encode()
                    return self._send(200, override, {"Content-Type": "application/json"})
                blobs = query.get("blobs", ["false"])[0].lower() == "true"
                siblings = []
                for name in sorted(repo.files):
                    sibling = {"rfilename": name}
                    if blobs:
                        sibling.update(size=len(repo.files[name]), blobId=repo.blob_id(name))
                        if repo.lfs(name):
                            sibling["lfs"] = {
                                "sha256": repo.sha256(name),
                                "size": len(repo.files[name]),
                                "pointerSize": 134,
                            }
                    siblings.append(sibling)
                gated = "manual" if repo.gated else False
                info = {
                    "id": repo.repo_id,
                    "modelId": repo.repo_id,
                    "sha": commit,
                    "private": repo.private,
                    "gated": gated,
                    "siblings": siblings,
                    "tags": repo.tags,
                }
                if self._dripped(path, json.dumps(info).encode()):
                    return None
                return self._json(info)
            if match := _CDN.match(path):
                return self._resolve(match, head, cdn=True)
            if match := _RESOLVE.match(path):
                return self._resolve(match, head)
            self._error(404, "NotFound", "no such endpoint", head)

        def _resolve(self, match, head: bool, cdn: bool = False):
            repo = self._repo(match.group(1), head)
            if repo is None:
                return
            commit = self._commit(repo, match.group(2), head)
            if commit is None:
                return
            file_path = unquote(match.group(3))
            if file_path not in repo.files:
                return self._error(404, "EntryNotFound", f"{file_path} does not exist", head, {"X-Repo-Commit": commit})
            if repo.gated and self._token() not in repo.tokens:
                status = 403 if self._token() else 401
                return self._error(status, "GatedRepo", "Access to this model is restricted", head)
            data = repo.files[file_path]
            etag = repo.sha256(file_path) if repo.lfs(file_path) else repo.blob_id(file_path)
            if hub.cdn_redirect and not cdn and repo.lfs(file_path):
                location = f"/cdn/{repo.repo_id}/{commit}/{quote(file_path)}"
                linked = {"X-Linked-Size": str(len(data)), "X-Linked-Etag": f'"{etag}"', "X-Repo-Commit": commit}
                return self._send(302, b"", {"Location": location, **linked}, head=head)
            headers = {
                "X-Repo-Commit": commit,
                "ETag": f'"{etag}"',
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
            }
            if repo.lfs(file_path):
                headers.update({"X-Linked-Size": str(len(data)), "X-Linked-Etag": f'"{etag}"'})
            start, end, status = 0, len(data) - 1, 200
            range_header = self.headers.get("Range")
            if range_header and file_path not in hub.no_range:
                parsed = re.match(r"bytes=(\d*)-(\d*)$", range_header.strip())
                if parsed:
                    first, last = parsed.groups()
                    if first == "":
                        start = max(len(data) - int(last), 0)
                    else:
                        start = int(first)
                        end = min(int(last), len(data) - 1) if last else len(data) - 1
                    if start >= len(data) or start > end:
                        return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head=head)
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            if file_path in hub.short_body:
                start, end, status = 0, min(hub.short_body[file_path], len(data)) - 1, 200
                headers.pop("Content-Range", None)
            body = memoryview(data)[start : end + 1]
            if file_path in hub.corrupt and len(body):
                corrupted = bytearray(body)
                corrupted[len(corrupted) // 2] ^= 0xFF
                body = memoryview(bytes(corrupted))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            record = self._record(status, 0)
            if head:
                return None
            if file_path in hub.hang_resolve:
                hub.release.wait(60)
                self.close_connection = True
                return None
            throttle = hub.throttle.get(file_path)
            limit = hub.drop_after.pop(file_path, hub.cut_always.get(file_path))
            stall = hub.stall_after.pop(file_path, None)
            sent = 0
            capped = hub.per_connection_bps or hub.total_bps
            began = time.monotonic()
            try:
                while sent < len(body):
                    step = min(64 * 1024 if capped else 256 * 1024, len(body) - sent)
                    if capped:
                        at = hub.pace(step)
                        if hub.per_connection_bps:
                            at = max(at, began + sent / hub.per_connection_bps)
                        delay = at - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    if limit is not None:
                        step = min(step, limit - sent)
                        if step <= 0:
                            self.close_connection = True
                            break
                    if stall is not None:
                        step = min(step, stall - sent) if sent < stall else step
                        if sent >= stall:
                            hub.stalled.set()
                            hub.release.wait(60)
                            stall = None
                            self.close_connection = True
                            break
                    self.wfile.write(body[sent : sent + step])
                    sent += step
                    record.body_bytes = sent
                    if throttle:
                        self.wfile.flush()
                        hub.release.wait(throttle)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


# --- GGUF files for fixtures ---------------------------------------------------------------------------


def _gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _gguf_value(value) -> tuple[int, bytes]:
    if isinstance(value, bool):
        return 7, struct.pack("<?", value)
    if isinstance(value, int):
        return 4, struct.pack("<I", value) if 0 <= value < 2**32 else struct.pack("<q", value)
    if isinstance(value, float):
        return 6, struct.pack("<f", value)
    if isinstance(value, str):
        return 8, _gguf_string(value)
    if isinstance(value, list):
        if value and isinstance(value[0], str):
            return 9, struct.pack("<IQ", 8, len(value)) + b"".join(_gguf_string(v) for v in value)
        if value and isinstance(value[0], bool):
            return 9, struct.pack("<IQ", 7, len(value)) + b"".join(struct.pack("<?", v) for v in value)
        return 9, struct.pack("<IQ", 4, len(value)) + b"".join(struct.pack("<I", v) for v in value)
    raise TypeError(type(value))


def gguf_header(metadata: dict, *, tensor_count: int = 0) -> bytes:
    """A GGUF v3 header with `metadata` (insertion order kept) and no tensor infos."""
    out = [b"GGUF", struct.pack("<IQQ", 3, tensor_count, len(metadata))]
    for key, value in metadata.items():
        value_type, payload = _gguf_value(value)
        out.append(_gguf_string(key) + struct.pack("<I", value_type) + payload)
    return b"".join(out)


def llama_metadata(
    arch: str = "llama",
    layers: int = 32,
    embd: int = 4096,
    heads: int = 32,
    kv_heads=8,
    ctx: int = 8192,
    vocab: int = 2000,
    experts: int | None = None,
    **extra,
) -> dict:
    meta = {
        "general.architecture": arch,
        "general.name": "Test",
        f"{arch}.block_count": layers,
        f"{arch}.context_length": ctx,
        f"{arch}.embedding_length": embd,
        f"{arch}.attention.head_count": heads,
        f"{arch}.attention.head_count_kv": kv_heads,
    }
    if experts:
        meta[f"{arch}.expert_count"] = experts
        meta[f"{arch}.expert_used_count"] = 2
    for key, value in extra.items():
        meta[f"{arch}.{key}"] = value
    meta["tokenizer.ggml.model"] = "gpt2"
    meta["tokenizer.ggml.tokens"] = [f"tok{i}" for i in range(vocab)]
    return meta


def gguf_file(size: int, metadata: dict | None = None, seed: int = 0) -> bytes:
    """A file of exactly `size` bytes that starts with a GGUF header (filler after it)."""
    header = gguf_header(metadata if metadata is not None else llama_metadata())
    if size < len(header):
        return header[:size]
    filler = hashlib.sha256(str(seed).encode()).digest() * ((size - len(header)) // 32 + 1)
    return header + filler[: size - len(header)]
