"""Test isolation and the local hub, as fixtures (nothing happens when this module is imported).

`isolated_session` (session, autouse) sets the environment before anything imports huggingface_hub,
which reads HF_* once at import: no token, no telemetry, no Xet, a throw-away HF_HOME, and HF_ENDPOINT
pointing at a local hub on 127.0.0.1 that lives for the whole session. No test reaches the internet,
and no test sees this machine's own hardware: `probe()` reads a fake machine (fake_machine).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator

import pytest

from localhub import LocalHub, gguf_file, llama_metadata

DROPPED_ENV = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_CACHE",
    "QUANTPICK_CATALOG",
    "QUANTPICK_DEBUG",
    "QUANTPICK_TIMEOUT",
    "CUDA_VISIBLE_DEVICES",
    "NO_COLOR",
)
_SESSION: dict[str, LocalHub] = {}


@pytest.fixture(scope="session", autouse=True)
def isolated_session() -> Iterator[LocalHub]:
    patcher = pytest.MonkeyPatch()
    for name in DROPPED_ENV:
        patcher.delenv(name, raising=False)
    with LocalHub() as hub:
        _register_repos(hub)
        settings = {
            "HF_HOME": tempfile.mkdtemp(prefix="quantpick-hf-home-"),
            "HF_ENDPOINT": hub.url,
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
            "QUANTPICK_TIMEOUT": "5",
            "COLUMNS": "200",
        }
        for name, value in settings.items():
            patcher.setenv(name, value)
        _SESSION["hub"] = hub
        try:
            yield hub
        finally:
            _SESSION.clear()
            patcher.undo()


GiB = 1024**3
MiB = 1024**2
SCALE = 100 * 1024  # repo fixtures: "1 GB" of a real repo is 100 KiB here

TINY_META = llama_metadata(layers=32, embd=512, heads=8, kv_heads=2, vocab=500)


def scaled(gigabytes: float) -> int:
    return int(gigabytes * SCALE)


@pytest.fixture(scope="session")
def hub(isolated_session: LocalHub) -> LocalHub:
    return isolated_session


FAKE_MEMINFO = "MemTotal:       33554432 kB\nMemAvailable:   30000000 kB\n"
FAKE_CPUINFO = "processor\t: 0\nmodel name\t: Fake CPU\nflags\t\t: fpu avx2 fma f16c\ncore id\t\t: 0\n\n"


@pytest.fixture(autouse=True)
def fake_machine(tmp_path_factory, monkeypatch):
    """`probe()` reads a fake 32 GiB, AVX2, GPU-less Linux box: no test depends on this machine's hardware."""
    import quantpick.probe as probe_module
    import quantpick.service as service
    from fake_nvml import make_fake_nvml

    root = tmp_path_factory.mktemp("machine")
    (root / "proc").mkdir()
    (root / "proc" / "meminfo").write_text(FAKE_MEMINFO)
    (root / "proc" / "cpuinfo").write_text(FAKE_CPUINFO)

    def probe():
        return probe_module.probe_hardware(root=root, system="Linux", nvml=make_fake_nvml([]), env={})

    monkeypatch.setattr(service, "probe", probe)
    return root


@pytest.fixture(autouse=True)
def isolated_hf_home(isolated_session, tmp_path, monkeypatch):
    """Each test gets its own HF_HOME and cache (the constants are read at call time by quantpick)."""
    from huggingface_hub import constants

    home = tmp_path / "hf-home"
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(home))
    _SESSION["hub"].reset_faults()
    return home


class Result:
    def __init__(self, exit_code: int, stdout: str, stderr: str):
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        return f"Result(exit={self.exit_code}, stdout={self.stdout[-800:]!r}, stderr={self.stderr[-800:]!r})"


@pytest.fixture
def cli():
    """Run quantpick in-process through typer's runner; stdout and stderr kept apart."""
    from typer.testing import CliRunner

    from quantpick.cli.app import app

    def run(*args: str, env: dict | None = None) -> Result:
        runner = CliRunner()
        result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def hardware_file(tmp_path):
    """Write a probe-format hardware file and return its path."""

    def write(ram=32 * GiB, gpus=(), backend="cuda", flags=None) -> str:
        data = {
            "schema_version": 1,
            "ram": {"total_bytes": ram, "available_bytes": ram, "source": "test"},
            "gpus": [
                {
                    "vendor": "nvidia",
                    "name": f"GPU{i}",
                    "total_bytes": g,
                    "free_bytes": g,
                    "budget_bytes": g,
                    "source": "test",
                }
                for i, g in enumerate(gpus)
            ],
            "cpu": {"model": "test cpu", "flags": flags or {"avx2": True}},
            "backend": backend if gpus else "cpu",
        }
        path = tmp_path / f"hw-{len(list(tmp_path.glob('hw-*')))}.json"
        path.write_text(json.dumps(data))
        return str(path)

    return write


# --- repo fixtures (registered once on the session hub) ----------------------------------------------

BARTOWSKI_QUANTS = {  # label -> size in "GB" of an 8B model
    "F16": 16.1,
    "Q8_0": 8.5,
    "Q6_K_L": 6.9,
    "Q6_K": 6.6,
    "Q5_K_L": 6.1,
    "Q5_K_M": 5.9,
    "Q5_K_S": 5.7,
    "Q4_K_L": 5.3,
    "Q4_K_M": 5.0,
    "Q4_K_S": 4.8,
    "Q4_1": 5.2,
    "Q4_0": 4.7,
    "IQ4_NL": 4.7,
    "IQ4_XS": 4.6,
    "Q3_K_XL": 4.8,
    "Q3_K_L": 4.4,
    "Q3_K_M": 4.1,
    "IQ3_M": 3.9,
    "Q3_K_S": 3.8,
    "IQ3_XS": 3.6,
    "IQ3_XXS": 3.4,
    "Q2_K_L": 3.7,
    "Q2_K": 3.3,
    "IQ2_M": 3.0,
    "Q4_0_4_4": 4.7,
}


def _register_repos(hub: LocalHub) -> None:
    files = {
        f"Qwen_Qwen3-8B-{q}.gguf": gguf_file(scaled(gb), TINY_META, seed=i)
        for i, (q, gb) in enumerate(BARTOWSKI_QUANTS.items())
    }
    files["Qwen_Qwen3-8B.imatrix"] = b"imatrix" * 100
    files["README.md"] = b"# Qwen3-8B GGUF\n"
    hub.add_repo("bartowski/Qwen_Qwen3-8B-GGUF", files)

    split = {}
    for q, gb, shards in (("Q8_0", 77.0, 2), ("Q4_K_M", 47.0, 2), ("Q2_K", 29.0, 1)):
        folder = f"Qwen2.5-72B-Instruct-{q}"
        if shards == 1:
            split[f"{folder}.gguf"] = gguf_file(scaled(gb), TINY_META, seed=len(split))
            continue
        for n in range(1, shards + 1):
            meta = TINY_META if n == 1 else {"split.no": n - 1, "split.count": shards}
            split[f"{folder}/{folder}-{n:05d}-of-{shards:05d}.gguf"] = gguf_file(scaled(gb / shards), meta, seed=n)
    hub.add_repo("bartowski/Qwen2.5-72B-Instruct-GGUF", split)

    moe = llama_metadata(arch="qwen3moe", layers=48, embd=512, heads=8, kv_heads=2, vocab=500, experts=128)
    unsloth = {
        f"Qwen3-30B-A3B-{q}.gguf": gguf_file(scaled(gb), moe, seed=i)
        for i, (q, gb) in enumerate(
            {"UD-Q4_K_XL": 17.7, "Q4_K_M": 18.6, "UD-IQ2_M": 10.9, "Q8_0": 32.5, "UD-Q2_K_XL": 11.8}.items()
        )
    }
    unsloth["BF16/Qwen3-30B-A3B-BF16-00001-of-00002.gguf"] = gguf_file(scaled(30.5), moe, seed=90)
    unsloth["BF16/Qwen3-30B-A3B-BF16-00002-of-00002.gguf"] = gguf_file(scaled(30.5), {"split.no": 1}, seed=91)
    unsloth["mmproj-F16.gguf"] = gguf_file(scaled(0.9), {"general.architecture": "clip"}, seed=92)
    unsloth["mmproj-BF16.gguf"] = gguf_file(scaled(0.9), {"general.architecture": "clip"}, seed=93)
    unsloth["imatrix_unsloth.dat"] = b"\0" * 300
    unsloth["config.json"] = b"{}"
    hub.add_repo("unsloth/Qwen3-30B-A3B-GGUF", unsloth)

    lower = {
        f"qwen2.5-7b-instruct-{q}.gguf": gguf_file(scaled(gb), TINY_META, seed=i)
        for i, (q, gb) in enumerate({"q4_k_m": 4.7, "q5_k_m": 5.4, "fp16": 15.2}.items())
    }
    for n in (1, 2):
        meta = TINY_META if n == 1 else {"split.no": 1}
        lower[f"qwen2.5-7b-instruct-q8_0-0000{n}-of-00002.gguf"] = gguf_file(scaled(4.05), meta, seed=10 + n)
    hub.add_repo("Qwen/Qwen2.5-7B-Instruct-GGUF", lower)

    gated = {
        f"gemma-3-4b-it-{q}.gguf": gguf_file(scaled(gb), TINY_META, seed=i)
        for i, (q, gb) in enumerate({"Q4_K_M": 2.5, "Q8_0": 4.1}.items())
    }
    hub.add_repo("google/gemma-3-4b-it-GGUF", gated, gated=True, tokens={"hf_testtoken_SECRET123"})
    hub.add_repo("org/safetensors-only", {"model.safetensors": b"\0" * 1000, "config.json": b"{}"})
