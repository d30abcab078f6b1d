"""`quantpick get` against the local hub: real huggingface_hub session and HTTP, real files on disk."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY_META, GiB, MiB
from localhub import gguf_file

BIG_REPO = "test/Big-GGUF"
BIG_FILES = {
    "Big-Q8_0.gguf": gguf_file(6 * MiB, TINY_META, seed=1),
    "Big-Q4_K_M.gguf": gguf_file(3 * MiB, TINY_META, seed=2),
    "Big-Q6_K/Big-Q6_K-00001-of-00002.gguf": gguf_file(2 * MiB, TINY_META, seed=3),
    "Big-Q6_K/Big-Q6_K-00002-of-00002.gguf": gguf_file(2 * MiB, {"split.no": 1}, seed=4),
    "mmproj-Big-F16.gguf": gguf_file(256 * 1024, {"general.architecture": "clip"}, seed=5),
}
TOKEN = "hf_testtoken_SECRET123"


@pytest.fixture(scope="module", autouse=True)
def big_repo(hub):
    hub.add_repo(BIG_REPO, BIG_FILES)


@pytest.fixture
def fast_retries(monkeypatch):
    import quantpick.download as download
    import quantpick.http as http

    monkeypatch.setattr(download, "BACKOFF_SECONDS", (0.01,))
    monkeypatch.setattr(http, "BACKOFF_SECONDS", (0.01,))


# `get` over the single-stream path (--connections 1), whose resume is tested byte for byte; --local-dir last
ONE_STREAM_Q8_0 = ("get", BIG_REPO, "--quant", "Q8_0", "--ram", "2GiB", "--connections", "1", "--local-dir")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_single_file_into_the_cache_then_idempotent(cli, hub, isolated_hf_home):
    hub.reset_counts()
    result = cli("get", BIG_REPO, "--quant", "Q8_0", "--ram", "2GiB", "--reserve", "1MiB")
    assert result.exit_code == 0, result
    path = Path(result.stdout.strip())
    assert result.stdout.count("\n") == 1  # stdout holds only the path
    assert path.read_bytes() == BIG_FILES["Big-Q8_0.gguf"]
    assert path.is_symlink() and path.parent.parent.name == "snapshots"
    assert path.resolve().name == sha(BIG_FILES["Big-Q8_0.gguf"])  # a blob named by its sha256, as hf does
    assert str(path).startswith(str(isolated_hf_home / "hub" / "models--test--Big-GGUF"))
    assert "llama-server -m" in result.stderr
    assert hub.body_bytes("Big-Q8_0") == 6 * MiB
    hub.reset_counts()
    again = cli("get", BIG_REPO, "--quant", "Q8_0", "--ram", "2GiB", "--reserve", "1MiB", "--json")
    assert again.exit_code == 0 and again.json["model_path"] == str(path)
    assert [f["status"] for f in again.json["files"]] == ["present"]
    assert hub.count("GET", "/resolve/") == 0  # no file body, no header: one listing request
    assert hub.count() == 1


def test_huggingface_hub_finds_the_cached_file(cli):
    from huggingface_hub import try_to_load_from_cache

    path = cli("get", BIG_REPO, "--quant", "Q4_K_M", "--ram", "2GiB", "--reserve", "1MiB").stdout.strip()
    assert try_to_load_from_cache(BIG_REPO, "Big-Q4_K_M.gguf") == path


def test_split_set_into_local_dir(cli, tmp_path):
    target = tmp_path / "models"
    result = cli(
        "get", BIG_REPO, "--quant", "Q6_K", "--local-dir", str(target), "--ram", "2GiB", "--reserve", "1MiB", "--json"
    )
    assert result.exit_code == 0, result
    data = result.json
    assert data["model_path"] == str(target / "Big-Q6_K" / "Big-Q6_K-00001-of-00002.gguf")
    for name in ("Big-Q6_K/Big-Q6_K-00001-of-00002.gguf", "Big-Q6_K/Big-Q6_K-00002-of-00002.gguf"):
        assert (target / name).read_bytes() == BIG_FILES[name]
    assert [f["status"] for f in data["files"]] == ["downloaded", "downloaded"]
    assert not list(target.rglob("*.part"))


def test_default_pick_follows_recommend(cli, hardware_file, tmp_path):
    hw = hardware_file(ram=1 * GiB + 4 * MiB)  # usable RAM 4 MiB: only Q4_K_M (3 MiB) + 1 MiB reserve fits
    result = cli("get", BIG_REPO, "--hardware", hw, "--reserve", "1MiB", "--local-dir", str(tmp_path))
    assert result.exit_code == 0, result
    assert result.stdout.strip() == str(tmp_path / "Big-Q4_K_M.gguf")
    assert "picked Q4_K_M" in result.stderr


def test_with_mmproj(cli, tmp_path):
    data = cli(
        "get", BIG_REPO, "--quant", "Q4_K_M", "--with-mmproj", "--local-dir", str(tmp_path), "--ram", "2GiB", "--json"
    ).json
    assert [f["repo_path"] for f in data["files"]] == ["Big-Q4_K_M.gguf", "mmproj-Big-F16.gguf"]
    assert data["model_path"].endswith("Big-Q4_K_M.gguf") and (tmp_path / "mmproj-Big-F16.gguf").exists()


def test_dry_run_writes_nothing(cli, tmp_path, hub):
    hub.reset_counts()
    target = tmp_path / "dry"
    result = cli("get", BIG_REPO, "--quant", "Q6_K", "--dry-run", "--local-dir", str(target), "--ram", "2GiB", "--json")
    assert result.exit_code == 0
    data = result.json
    assert data["dry_run"] is True and data["bytes_to_download"] == 4 * MiB and data["free_bytes"] > 0
    assert {f["status"] for f in data["files"]} == {"missing"}
    assert set(data["files"][0]) >= {"repo_path", "path", "size_bytes", "sha256", "status"}
    assert not target.exists() and hub.count("GET", "/resolve/Big") <= 1
    human = cli("get", BIG_REPO, "--quant", "Q6_K", "--dry-run", "--local-dir", str(target), "--ram", "2GiB")
    assert human.stdout.strip() == data["model_path"] and "to download" in human.stderr


def test_checksum_mismatch_leaves_nothing_at_the_final_path(cli, hub, tmp_path):
    hub.corrupt.add("Big-Q4_K_M.gguf")
    result = cli("get", BIG_REPO, "--quant", "Q4_K_M", "--local-dir", str(tmp_path), "--ram", "2GiB", "--json")
    assert result.exit_code == 5
    assert result.json["error"]["code"] == "checksum_mismatch" and "Big-Q4_K_M.gguf" in result.json["error"]["message"]
    assert not (tmp_path / "Big-Q4_K_M.gguf").exists() and not list(tmp_path.rglob("*.part"))


def test_a_corrupted_file_on_disk_is_replaced(cli, tmp_path):
    (tmp_path / "Big-Q4_K_M.gguf").write_bytes(b"x" * (3 * MiB))  # right size, wrong bytes
    data = cli("get", BIG_REPO, "--quant", "Q4_K_M", "--local-dir", str(tmp_path), "--ram", "2GiB", "--json").json
    assert data["files"][0]["status"] == "downloaded"
    assert (tmp_path / "Big-Q4_K_M.gguf").read_bytes() == BIG_FILES["Big-Q4_K_M.gguf"]


def test_connection_cut_mid_file_resumes_with_range(cli, hub, tmp_path, fast_retries):
    hub.drop_after["Big-Q8_0.gguf"] = 2 * MiB + 12345
    hub.reset_counts()
    result = cli(*ONE_STREAM_Q8_0, str(tmp_path), "--json")
    assert result.exit_code == 0, result
    assert (tmp_path / "Big-Q8_0.gguf").read_bytes() == BIG_FILES["Big-Q8_0.gguf"]
    ranges = [r.range for r in hub.requests if r.path.endswith("Big-Q8_0.gguf") and r.method == "GET"]
    assert len(ranges) == 2 and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert hub.body_bytes("Big-Q8_0") <= 6 * MiB + 2 * MiB + 12345


def test_network_lost_for_good_keeps_the_part_and_says_resume(cli, hub, tmp_path, fast_retries):
    hub.drop_after["Big-Q8_0.gguf"] = 1 * MiB + 100
    hub.cut_always["Big-Q8_0.gguf"] = 0
    result = cli(*ONE_STREAM_Q8_0, str(tmp_path), "--json")
    assert result.exit_code == 4
    assert result.json["error"]["code"] == "network" and "resume" in result.json["error"]["hint"]
    assert not (tmp_path / "Big-Q8_0.gguf").exists()
    part = tmp_path / "Big-Q8_0.gguf.part"
    assert part.stat().st_size == 1 * MiB + 100  # every byte that arrived before the cut is kept
    hub.cut_always.clear()
    hub.reset_counts()
    done = cli(*ONE_STREAM_Q8_0, str(tmp_path), "--json")
    assert done.exit_code == 0 and done.json["files"][0]["status"] == "resumed"
    assert hub.body_bytes("Big-Q8_0") == 5 * MiB - 100


def _subprocess_env(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_") or k in ("HF_ENDPOINT",)}
    env.update(
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_XET="1",
        QUANTPICK_TIMEOUT="5",
        PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"),
    )
    env.update(extra)
    return env


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_download_resumes_from_the_bytes_on_disk(cli, hub, tmp_path, isolated_hf_home, sig):
    hub.stall_after["Big-Q8_0.gguf"] = 3 * MiB + 4321
    process = subprocess.Popen(
        [sys.executable, "-m", "quantpick", *ONE_STREAM_Q8_0, str(tmp_path)],
        env=_subprocess_env(isolated_hf_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert hub.stalled.wait(30)
    part = tmp_path / "Big-Q8_0.gguf.part"
    deadline = time.monotonic() + 10
    while (not part.exists() or part.stat().st_size < 3 * MiB) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=30)
    hub.release.set()
    deadline = time.monotonic() + 10  # the stalled request is logged when the hub gives up on it
    while not any(r.body_bytes == 3 * MiB + 4321 for r in hub.requests) and time.monotonic() < deadline:
        time.sleep(0.02)
    if sig == signal.SIGINT:
        assert process.returncode == 130 and b"resume" in stderr
    assert stdout == b"" and not (tmp_path / "Big-Q8_0.gguf").exists()
    kept = part.stat().st_size
    assert kept >= 3 * MiB
    hub.reset_counts()
    result = cli(*ONE_STREAM_Q8_0, str(tmp_path), "--json")
    assert result.exit_code == 0, result
    assert result.json["files"][0]["status"] == "resumed"
    assert (tmp_path / "Big-Q8_0.gguf").read_bytes() == BIG_FILES["Big-Q8_0.gguf"]
    assert hub.body_bytes("Big-Q8_0") == 6 * MiB - kept  # only the missing bytes


def _tiny_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )


def test_too_little_disk_space_writes_nothing(cli, tmp_path, monkeypatch):
    small = tmp_path / "small"
    mounted = _tiny_tmpfs(small, "2m")
    if not mounted:
        import shutil

        import quantpick.download as download

        small.mkdir()
        monkeypatch.setattr(download.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(2 * MiB, 0, 2 * MiB))
    try:
        result = cli("get", BIG_REPO, "--quant", "Q8_0", "--local-dir", str(small), "--ram", "2GiB", "--json")
        assert result.exit_code == 5
        assert result.json["error"]["code"] == "disk_space" and "free" in result.json["error"]["message"]
        assert list(small.iterdir()) == []
    finally:
        if mounted:
            subprocess.run(["umount", str(small)])


def test_disk_full_during_download_keeps_the_part(cli, tmp_path, monkeypatch):
    small = tmp_path / "full"
    if not _tiny_tmpfs(small, "4m"):
        pytest.skip("needs root to mount a tiny tmpfs")
    import quantpick.download as download

    monkeypatch.setattr(download, "_free_bytes", lambda p: 1 << 40)  # the pre-check is fooled: ENOSPC mid-file
    try:
        result = cli("get", BIG_REPO, "--quant", "Q8_0", "--local-dir", str(small), "--ram", "2GiB", "--json")
        assert result.exit_code == 5 and result.json["error"]["code"] == "disk_full"
        assert (small / "Big-Q8_0.gguf.part").stat().st_size > 0 and not (small / "Big-Q8_0.gguf").exists()
    finally:
        subprocess.run(["umount", str(small)])


def test_gated_without_token(cli, tmp_path):
    result = cli(
        "get", "google/gemma-3-4b-it-GGUF", "--quant", "Q4_K_M", "--local-dir", str(tmp_path), "--ram", "2GiB", "--json"
    )
    assert result.exit_code == 4
    error = result.json["error"]
    assert error["code"] == "gated" and "hf auth login" in error["hint"] and "HF_TOKEN" in error["hint"]
    assert [p.name for p in tmp_path.iterdir()] == ["hf-home"]  # nothing written for the download


@pytest.mark.parametrize(("token", "expected_exit"), [(TOKEN, 0), ("hf_wrong_SECRET999", 4)])
def test_gated_with_a_token_never_prints_it(hub, tmp_path, isolated_hf_home, token, expected_exit):
    env = _subprocess_env(isolated_hf_home, HF_TOKEN=token)
    for args in (
        ["get", "google/gemma-3-4b-it-GGUF", "--quant", "Q4_K_M", "--local-dir", str(tmp_path), "--ram", "1GiB"],
        ["get", "google/gemma-3-4b-it-GGUF", "--quant", "Q4_K_M", "--ram", "2GiB", "--json"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "quantpick", *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == expected_exit, done.stderr
        assert token not in done.stdout and token not in done.stderr
    for path in isolated_hf_home.rglob("*"):
        if path.is_file() and path.stat().st_size < 10 * MiB:
            assert token.encode() not in path.read_bytes()
    if expected_exit == 0:
        assert (tmp_path / "gemma-3-4b-it-Q4_K_M.gguf").exists()


def test_offline_get_uses_complete_files_or_names_the_missing(cli, hub, monkeypatch, tmp_path):
    from huggingface_hub import constants

    first = cli("get", BIG_REPO, "--quant", "Q4_K_M", "--local-dir", str(tmp_path), "--ram", "2GiB").stdout
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.reset_counts()
    again = cli("get", BIG_REPO, "--quant", "Q4_K_M", "--local-dir", str(tmp_path), "--ram", "2GiB")
    assert again.exit_code == 0 and again.stdout == first and hub.count() == 0
    missing = cli("get", BIG_REPO, "--quant", "Q8_0", "--local-dir", str(tmp_path), "--ram", "2GiB", "--json")
    assert missing.exit_code == 4 and "Big-Q8_0.gguf" in missing.json["error"]["message"]


def test_unknown_quant_is_refused_with_the_list(cli):
    result = cli("get", BIG_REPO, "--quant", "IQ1_S", "--ram", "2GiB", "--json")
    assert result.exit_code == 2 and "Q8_0" in result.json["error"]["hint"]


@pytest.mark.parametrize(
    "form",
    [
        f"{BIG_REPO}:q4_k_m",
        f"hf.co/{BIG_REPO}:Q4_K_M",
        f"https://huggingface.co/{BIG_REPO}/blob/main/Big-Q4_K_M.gguf",
        f"https://huggingface.co/{BIG_REPO}/resolve/main/Big-Q4_K_M.gguf?download=true",
    ],
)
def test_pasted_forms_fetch_the_quant_they_name(cli, form):
    result = cli("get", form, "--ram", "2GiB", "--reserve", "1MiB", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert [f["repo_path"] for f in result.json["files"]] == ["Big-Q4_K_M.gguf"]


def test_a_split_file_url_takes_its_whole_set(cli):
    url = f"https://huggingface.co/{BIG_REPO}/blob/main/Big-Q6_K/Big-Q6_K-00002-of-00002.gguf"
    result = cli("get", url, "--ram", "2GiB", "--reserve", "1MiB", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert len(result.json["files"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([f"https://huggingface.co/{BIG_REPO}/blob/main/Big-Q5_K_M.gguf"], "has no GGUF quant file 'Big-Q5_K_M.gguf'"),
        ([f"{BIG_REPO}:Q8_0", "--quant", "Q4_K_M"], "two quants asked for"),
        ([f"https://huggingface.co/{BIG_REPO}/tree/v2", "--revision", "main"], "two revisions asked for"),
        (["https://github.com/test/Big-GGUF"], "only Hugging Face URLs"),
    ],
)
def test_bad_pasted_forms_exit_2(cli, args, message):
    result = cli("get", *args, "--ram", "2GiB", "--dry-run")
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and "Hint:" in result.stderr


def test_for_ollama_writes_a_modelfile_in_the_cache(cli, isolated_hf_home):
    result = cli(
        "get", BIG_REPO, "--quant", "Q4_K_M", "--ram", "2GiB", "--reserve", "1MiB", "--for", "ollama", "--json"
    )
    assert result.exit_code == 0, result.stderr
    handoff = result.json["handoff"]
    modelfile = Path(handoff["written"][0])
    assert modelfile.name == "Modelfile" and str(modelfile).startswith(str(isolated_hf_home))
    text = modelfile.read_text()
    assert f"FROM {result.json['model_path']}\n" in text and "PARAMETER num_ctx 8192" in text
    assert handoff["commands"] == [f"ollama create big-gguf:q4_k_m -f {modelfile}", "ollama run big-gguf:q4_k_m"]


def test_for_ollama_refuses_a_split_set_before_downloading(cli, hub):
    hub.reset_counts()
    result = cli("get", BIG_REPO, "--quant", "Q6_K", "--ram", "2GiB", "--reserve", "1MiB", "--for", "ollama")
    assert result.exit_code == 2 and "Modelfile takes one" in result.stderr
    assert hub.body_bytes("Big-Q6_K") == 0


def test_for_lmstudio_links_without_a_copy(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("QUANTPICK_LMSTUDIO_DIR", str(tmp_path / "lms"))
    args = ("get", BIG_REPO, "--quant", "Q4_K_M", "--ram", "2GiB", "--reserve", "1MiB", "--for", "lmstudio", "--json")
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    link = tmp_path / "lms" / "test" / "Big-GGUF" / "Big-Q4_K_M.gguf"
    assert link.is_symlink() and link.resolve() == Path(result.json["model_path"]).resolve()
    assert result.json["handoff"]["written"] == [str(link)]
    assert cli(*args).exit_code == 0  # again: the same link is fine
    link.unlink()
    link.write_bytes(b"someone else's file")
    clash = cli(*args)
    assert clash.exit_code == 5 and "already exists" in clash.stderr and link.read_bytes() == b"someone else's file"


def test_for_an_unknown_runner_exits_2(cli):
    result = cli("get", BIG_REPO, "--quant", "Q4_K_M", "--for", "kobold")
    assert result.exit_code == 2 and "--for: unknown runner 'kobold'" in result.stderr
