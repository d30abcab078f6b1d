"""The forms people paste for a model: a repo id, llama.cpp's OWNER/NAME:QUANT shorthand, and Hub URLs. Pure.

OWNER/NAME                        OWNER/NAME:Q4_K_M (as llama.cpp's -hf takes it, any case)
hf.co/OWNER/NAME[:QUANT]          https://huggingface.co/OWNER/NAME[/tree/REV]
https://huggingface.co/OWNER/NAME/blob/REV/FILE.gguf   (and /resolve/: the quant is the file's)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from quantpick.errors import UsageError

HUB_HOSTS = ("huggingface.co", "hf.co", "www.huggingface.co")
EXAMPLES = (
    "OWNER/NAME",
    "OWNER/NAME:Q4_K_M",
    "hf.co/OWNER/NAME",
    "https://huggingface.co/OWNER/NAME/blob/main/FILE.gguf",
)
_QUANT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class RepoRef:
    repo: str
    revision: str | None = None
    quant: str | None = None  # from OWNER/NAME:QUANT
    file: str | None = None  # from a blob/resolve URL: the quant is the one that holds this file


def _bad(text: str, why: str) -> UsageError:
    shown = text if len(text) <= 80 else text[:80] + "..."
    return UsageError(
        f"{shown!r} is not a model repo: {why}", hint="write one of: " + ", ".join(EXAMPLES), code="invalid_repo_id"
    )


def _split_quant(path: str, text: str) -> tuple[str, str | None]:
    repo, colon, quant = path.partition(":")
    if not colon:
        return repo, None
    if not _QUANT.match(quant):
        raise _bad(text, f"{quant[:40]!r} is not a quant name")
    return repo, quant.upper()


def parse_repo_ref(text: str) -> RepoRef:
    """The repo (and revision, quant or file) `text` names; UsageError with the valid forms otherwise."""
    raw = text.strip()
    if not raw:
        raise _bad(text, "it is empty")
    lowered = raw.lower()
    if "://" in raw or lowered.startswith(tuple(f"{host}/" for host in HUB_HOSTS)):
        url = urlsplit(raw if "://" in raw else "https://" + raw)
        if url.scheme not in ("http", "https") or (url.hostname or "") not in HUB_HOSTS:
            raise _bad(text, "only Hugging Face URLs (huggingface.co, hf.co) name a model")
        parts = [unquote(p) for p in url.path.split("/") if p]
        if parts and parts[0] in ("datasets", "spaces", "docs", "models"):
            raise _bad(text, f"a {parts[0]} page, not a model repo")
        if len(parts) < 2:
            raise _bad(text, "the URL names no OWNER/NAME")
        owner, name = parts[0], parts[1]
        name, quant = _split_quant(name, text)
        rest = parts[2:]
        if not rest:
            return RepoRef(f"{owner}/{name}", quant=quant)
        kind = rest[0]
        if kind == "tree" and len(rest) >= 2:
            return RepoRef(f"{owner}/{name}", revision="/".join(rest[1:]), quant=quant)
        if kind in ("blob", "resolve") and len(rest) >= 3:
            if quant is not None:
                raise _bad(text, "a file URL already names its quant")
            return RepoRef(f"{owner}/{name}", revision=rest[1], file="/".join(rest[2:]))
        raise _bad(text, f"a /{kind} URL quantpick does not know")
    if raw.count("/") != 1:
        raise _bad(text, "a repo id has exactly one '/'")
    repo, quant = _split_quant(raw, text)
    return RepoRef(repo, quant=quant)
