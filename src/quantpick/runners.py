"""Hand a downloaded model to Ollama or LM Studio, without a second copy of the weights.

- Ollama: a Modelfile (https://github.com/ollama/ollama/blob/main/docs/modelfile.md): `FROM` the GGUF file,
  `PARAMETER num_ctx`, and `PARAMETER stop` for the end-of-sequence and end-of-turn tokens the GGUF header names.
  No TEMPLATE: a Modelfile's template is a Go template, the GGUF's is Jinja, and Ollama derives its own from the
  GGUF's metadata on import. `ollama create NAME -f Modelfile` then copies the weights into Ollama's store.
- LM Studio: its models folder holds `publisher/model/file.gguf` (LM Studio's docs, "Import models":
  ~/.lmstudio/models); quantpick links the cached file there. QUANTPICK_LMSTUDIO_DIR names another folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from quantpick.errors import DownloadError, UsageError

LMSTUDIO_ENV = "QUANTPICK_LMSTUDIO_DIR"
_NAME = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class Handoff:
    runner: str
    written: list[Path]  # the Modelfile, or the links
    commands: list[str]  # what to run next
    notes: list[str]


def ollama_name(repo: str, label: str) -> str:
    """A model name Ollama accepts: lower case, [a-z0-9._-], NAME:TAG."""
    name = _NAME.sub("-", repo.split("/")[-1].lower()).strip("-.") or "model"
    tag = _NAME.sub("-", label.lower()).strip("-.") or "latest"
    return f"{name}:{tag}"


def write_ollama(
    model_path: Path, shard_count: int, repo: str, label: str, ctx: int, folder: Path, mmproj: Path | None
) -> Handoff:
    import shlex

    if shard_count > 1:
        raise UsageError(
            f"{label} is split in {shard_count} files and an Ollama Modelfile takes one",
            hint="merge them first: llama-gguf-split --merge FIRST-SHARD.gguf merged.gguf",
            code="ollama_split",
        )
    name = ollama_name(repo, label)
    lines = [f"# written by quantpick for {repo} ({label})", f"FROM {model_path}"]
    if mmproj is not None:
        lines.append(f"FROM {mmproj}")
    lines.append(f"PARAMETER num_ctx {ctx}")
    lines += [f'PARAMETER stop "{token}"' for token in stop_tokens(model_path)]
    folder.mkdir(parents=True, exist_ok=True)
    modelfile = folder / "Modelfile"
    temporary = folder / ".Modelfile.tmp"
    temporary.write_text("\n".join(lines) + "\n")
    os.replace(temporary, modelfile)
    commands = [f"ollama create {name} -f {shlex.quote(str(modelfile))}", f"ollama run {name}"]
    notes = ["Ollama derives the chat template from the GGUF's metadata; `ollama create` copies the weights"]
    return Handoff("ollama", [modelfile], commands, notes)


def stop_tokens(model_path: Path) -> list[str]:
    """The file's own end-of-sequence and end-of-turn tokens, from its header (the first 64 MiB at most)."""
    from quantpick.gguf import HeaderError, read_stop_tokens

    try:
        with model_path.open("rb") as handle:
            data = handle.read(64 << 20)
        tokens = read_stop_tokens(data)
    except (OSError, HeaderError):
        return []
    return [t for t in tokens if '"' not in t and "\\" not in t]


def lmstudio_root() -> Path:
    return Path(os.environ.get(LMSTUDIO_ENV) or Path.home() / ".lmstudio" / "models")


def link_lmstudio(files: list[Path], repo: str, root: Path | None = None) -> Handoff:
    """Symbolic links to the cached files in LM Studio's `publisher/model/` layout (no second copy)."""
    owner, name = repo.split("/", 1)
    folder = (root or lmstudio_root()) / owner / name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for source in files:
        target = folder / source.name
        real = source.resolve()
        if target.is_symlink() or target.exists():
            if target.resolve() == real:
                written.append(target)
                continue
            raise DownloadError(
                f"{target} already exists and is another file",
                hint="remove it, or set QUANTPICK_LMSTUDIO_DIR to another folder",
            )
        temporary = folder / f".{source.name}.quantpick-link"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(real)
        os.replace(temporary, target)
        written.append(target)
    commands = ["lms ls"]  # LM Studio lists it among its models
    return Handoff("lmstudio", written, commands, [f"linked into {folder} (LM Studio's models folder)"])
