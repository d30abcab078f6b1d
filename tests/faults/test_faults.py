"""A hostile Hub, a second process, a bad disk: every failure is one line, a hint and its exit code.

Each test drives the real huggingface_hub client against the local hub (tests/localhub.py), which here
misbehaves on purpose: hangs, drips, short bodies, resets, 5xx and 429 answers, hostile listings and headers.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY_META, GiB, MiB
from localhub import gguf_file, llama_metadata

REPO = "faults/Model-GGUF"
FILES = {
    "Model-Q8_0.gguf": gguf_file(3 * MiB, TINY_META, seed=1),
    "Model-Q4_K_M.gguf": gguf_file(2 * MiB, TINY_META, seed=2),
    "mmproj-Model-BF16.gguf": gguf_file(64 * 1024, {"general.architecture": "clip"}, seed=3),
    "mmproj-Model-F16.gguf": gguf_file(64 * 1024, {"general.architecture": "clip"}, seed=4),
}
GOOD_SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module", autouse=True)
def repo(hub):
    return hub.add_repo(REPO, FILES)


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    """Short timeouts and backoffs: a hostile server costs seconds, not minutes."""
    import quantpick.download as download
    import quantpick.http as http

    monkeypatch.setenv("QUANTPICK_TIMEOUT", "1")
    monkeypatch.setattr(http, "BACKOFF_SECONDS", (0.01,))
    monkeypatch.setattr(download, "BACKOFF_SECONDS", (0.01,))


@pytest.fixture
def release(hub):
    yield
    hub.release.set()  # let a hanging handler thread end


def one_error(result, exit_code: int, code: str) -> dict:
    assert result.exit_code == exit_code, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: ") and all(line.startswith(("Error: ", "Hint: ")) for line in lines)
    error = result.json["error"]
    assert error["code"] == code and error["hint"]
    return error


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


# --- two processes -----------------------------------------------------------------------------------------


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTPICK_")}
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**env, "HF_HOME": str(home), "PYTHONPATH": src, "QUANTPICK_TIMEOUT": "10"}


def test_two_gets_of_the_same_quant_at_once_both_end_verified(hub, tmp_path):
    hub.throttle["Model-Q8_0.gguf"] = 0.6  # 3 segments of 4 blocks in parallel: about 2.4 s, so the runs overlap
    command = [sys.executable, "-m", "quantpick", "get", REPO, "--quant", "Q8_0", "--ram", "2GiB"]
    runs = [subprocess.Popen(command, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    time.sleep(0.8)
    runs.append(
        subprocess.Popen(command, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    )
    outcomes = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outcomes
    paths = {out.strip() for out, _err in outcomes}
    assert len(paths) == 1
    (path,) = paths
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == hashlib.sha256(FILES["Model-Q8_0.gguf"]).hexdigest()
    assert any("waiting" in err for _out, err in outcomes)
    assert not list(tmp_path.rglob("*.part"))


# --- hostile listings ----------------------------------------------------------------------------------------


def _listing(sha=GOOD_SHA, **sibling) -> dict:
    entry = {"rfilename": "Model-Q4_K_M.gguf", "size": 10, "lfs": {"sha256": "a" * 64, "size": 10, "pointerSize": 1}}
    entry.update(sibling)
    return {"id": REPO, "sha": sha, "siblings": [entry]}


@pytest.mark.parametrize(
    "listing",
    [
        _listing(sha="../../../x"),
        _listing(sha=None),
        _listing(size="big"),
        _listing(size=-5),
        _listing(rfilename=None),
        _listing(lfs={"sha256": "../escape", "size": 10, "pointerSize": 1}),
        _listing(lfs="not an object"),
        {"sha": GOOD_SHA, "siblings": "nope"},
        ["not", "an", "object"],
    ],
)
def test_a_hostile_listing_exits_4_and_writes_nothing_outside(cli, hub, tmp_path, isolated_hf_home, listing):
    hub.api_override[REPO] = listing
    before = files_under(tmp_path)
    for args in (("list", REPO), ("get", REPO, "--quant", "Q4_K_M", "--ram", "2GiB")):
        error = one_error(cli(*args, "--json"), 4, "invalid_listing")
        assert "invalid listing" in error["message"]
    assert {p for p in files_under(tmp_path) - before if isolated_hf_home not in p.parents} == set()


@pytest.mark.parametrize("block_count", [2**32 - 1, 10**6, 0])
def test_an_absurd_header_means_shape_unknown_not_a_hang(cli, hub, block_count, monkeypatch):
    meta = llama_metadata(layers=32, embd=512, heads=8, kv_heads=2, vocab=50)
    meta["llama.block_count"] = block_count
    repo_id = f"faults/Absurd-{block_count}-GGUF"
    hub.add_repo(repo_id, {"Absurd-Q4_K_M.gguf": gguf_file(300_000, meta)})
    started = time.monotonic()
    data = cli("recommend", repo_id, "--ram", "8GiB", "--json").json
    assert data["model"] is None and data["reserve"]["source"] == "default"
    assert "shape_unknown" in [n["code"] for n in data["notes"]]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    offline = cli("recommend", repo_id, "--ram", "8GiB", "--json")
    assert offline.exit_code == 0 and offline.json["reserve"]["source"] == "default"
    assert time.monotonic() - started < 10


def test_listing_validator_fuzz():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from quantpick.hub import InvalidListing, listing_from_json

    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=70), st.floats())
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner))
    sibling = st.fixed_dictionaries(
        {},
        optional={
            "rfilename": values,
            "size": values,
            "lfs": st.one_of(values, st.fixed_dictionaries({}, optional={"sha256": values, "size": values})),
        },
    )
    listing = st.fixed_dictionaries({}, optional={"sha": values, "siblings": st.one_of(values, st.lists(sibling))})

    @settings(max_examples=400, deadline=None)
    @given(st.one_of(values, listing))
    def check(data):
        try:
            result = listing_from_json(REPO, None, data)
        except InvalidListing:
            return
        assert len(result.revision) == 40 and all(f.size_bytes >= 0 for f in result.files)

    check()


# --- misbehaving transfers -----------------------------------------------------------------------------------


def test_a_short_body_that_ignores_range_gives_up_after_a_few_requests(cli, hub, tmp_path):
    hub.short_body["Model-Q8_0.gguf"] = 500_000
    hub.reset_counts()
    result = cli("get", REPO, "--quant", "Q8_0", "--ram", "2GiB", "--local-dir", str(tmp_path), "--json")
    error = one_error(result, 4, "network")
    assert "progress" in error["message"] and "resume" in error["hint"]
    # the header read, the ranged request answered 200 (one stream from then on), 1 with progress, 3 retries
    assert hub.count("GET", "/resolve/") <= 7
    assert not (tmp_path / "Model-Q8_0.gguf").exists()


def test_every_response_cut_short_still_completes(cli, hub, tmp_path):
    hub.cut_always["Model-Q8_0.gguf"] = 200_000
    result = cli("get", REPO, "--quant", "Q8_0", "--ram", "2GiB", "--local-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result
    assert (tmp_path / "Model-Q8_0.gguf").read_bytes() == FILES["Model-Q8_0.gguf"]
    assert hub.count("GET", "Model-Q8_0") >= 15  # 3 MiB in 200 KB pieces, every piece kept


def test_a_dripping_api_is_given_up_by_the_deadline(cli, hub, release):
    hub.drip["/api/models/"] = 0.2
    started = time.monotonic()
    error = one_error(cli("list", REPO, "--json"), 4, "network")
    assert time.monotonic() - started < 3  # QUANTPICK_TIMEOUT=1: at most about twice that
    assert "QUANTPICK_TIMEOUT" in error["message"] + error["hint"]


def test_a_hanging_download_gives_up_within_twice_the_timeout(cli, hub, tmp_path, release):
    hub.hang_resolve.add("Model-Q8_0.gguf")
    started = time.monotonic()
    args = ("get", REPO, "--quant", "Q8_0", "--ram", "2GiB", "--local-dir", str(tmp_path), "--json")
    one_error(cli(*args), 4, "network")
    assert time.monotonic() - started < 3


def test_5xx_and_429_are_retried_honouring_retry_after(cli, hub):
    hub.script["/api/models/"] = [(503, {}), (429, {"Retry-After": "1"})]
    hub.reset_counts()
    started = time.monotonic()
    result = cli("list", REPO, "--json")
    assert result.exit_code == 0, result
    assert time.monotonic() - started >= 1  # waited as Retry-After said
    assert hub.count("GET", "/api/models/") == 3


def test_the_hub_stays_busy_exits_4_after_three_retries(cli, hub):
    hub.script["/api/models/"] = [(503, {})] * 10
    hub.reset_counts()
    one_error(cli("list", REPO, "--json"), 4, "hub_busy")
    assert hub.count("GET", "/api/models/") == 4


def test_4xx_is_never_retried(cli, hub):
    hub.script["/api/models/"] = [(404, {"X-Error-Code": "RepoNotFound"})] * 3
    hub.reset_counts()
    one_error(cli("list", REPO, "--json"), 4, "repo_not_found")
    assert hub.count("GET", "/api/models/") == 1


def test_a_download_answered_503_is_retried(cli, hub, tmp_path):
    hub.script["/resolve/main/Model-Q4_K_M.gguf"] = [(503, {"Retry-After": "0"})]
    result = cli("get", REPO, "--quant", "Q4_K_M", "--ram", "2GiB", "--local-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result
    assert (tmp_path / "Model-Q4_K_M.gguf").read_bytes() == FILES["Model-Q4_K_M.gguf"]


# --- context advice ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_context_repo(hub):
    meta = llama_metadata(layers=16, embd=512, heads=8, kv_heads=2, vocab=50, ctx=2048)
    hub.add_repo("faults/Short-GGUF", {"Short-Q4_K_M.gguf": gguf_file(200_000, meta)})
    return "faults/Short-GGUF"


def test_the_default_context_follows_a_short_trained_context(cli, short_context_repo):
    data = cli("recommend", short_context_repo, "--ram", "8GiB", "--json").json
    assert data["reserve"]["ctx"] == 2048 and " -c 2048" in data["pick"]["command"]
    assert "ctx_trained" in [n["code"] for n in data["notes"]]


def test_a_context_beyond_the_trained_one_is_warned_about(cli, short_context_repo):
    data = cli("recommend", short_context_repo, "--ram", "8GiB", "--ctx", "8192", "--json").json
    assert data["reserve"]["ctx"] == 8192 and "ctx_beyond_trained" in [n["code"] for n in data["notes"]]


def test_the_no_fit_advice_never_passes_the_trained_context(cli, hub, hardware_file):
    meta = llama_metadata(layers=32, embd=4096, heads=32, kv_heads=8, vocab=50, ctx=131072)
    hub.add_repo("faults/Long-GGUF", {"Long-Q4_K_M.gguf": gguf_file(100_000, meta)})
    hw = hardware_file(ram=1 * GiB + 60 * GiB)
    result = cli("recommend", "faults/Long-GGUF", "--hardware", hw, "--ctx", "1000000", "--json")
    assert result.exit_code == 3
    assert result.json["error"]["details"]["fitting_ctx"] <= 131072


# --- the vision projector ------------------------------------------------------------------------------------


def test_mmproj_labels_match_whole(cli, tmp_path):
    args = ("get", REPO, "--quant", "Q4_K_M", "--ram", "2GiB", "--dry-run", "--local-dir", str(tmp_path), "--json")
    assert cli(*args, "--with-mmproj").json["mmproj_path"].endswith("mmproj-Model-F16.gguf")
    assert cli(*args, "--mmproj", "bf16").json["mmproj_path"].endswith("mmproj-Model-BF16.gguf")
    error = one_error(cli(*args, "--mmproj", "Q4_0"), 2, "mmproj_not_found")
    assert "mmproj-Model-F16.gguf" in error["hint"]


# --- output hygiene ------------------------------------------------------------------------------------------


def test_control_characters_in_file_names_are_escaped_for_people(cli, hub):
    files = {"evil\x1b[31m\nname.gguf": gguf_file(1000, TINY_META), "notes\x1b]0;pwned\x07.txt": b"x"}
    hub.add_repo("faults/Escapes-GGUF", files)
    human = cli("list", "faults/Escapes-GGUF")
    assert human.exit_code == 0 and "\x1b" not in human.stdout and "\x07" not in human.stdout
    assert "evil\\x1b[31m\\nname" in human.stdout and "notes\\x1b]0;pwned\\x07.txt" in human.stdout
    data = cli("list", "faults/Escapes-GGUF", "--json").json
    assert data["quants"][0]["files"][0]["path"] == "evil\x1b[31m\nname.gguf"  # JSON stays exact


def test_a_full_or_closed_stdout_ends_quietly(tmp_path):
    env = _env(tmp_path)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "quantpick", "probe", "--json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    pipe = subprocess.Popen(
        [sys.executable, "-m", "quantpick", "catalog"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    pipe.stdout.close()  # the reader goes away before the writer writes
    _out, err = pipe.communicate(timeout=30)
    assert pipe.returncode == 141 and b"Traceback" not in err and b"Exception ignored" not in err


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("get", REPO, "--local-dir", ""), "invalid_value", "--local-dir"),
        (("list", "a/" + "b" * 5000), "invalid_repo_id", "not a Hub repo id"),
        (("recommend", "--vram", "99999999999999999999999T"), "invalid_size", "out of range"),
        (("recommend", "--ctx", "0"), "invalid_value", "--ctx"),
    ],
)
def test_bad_input_is_a_usage_error(cli, args, code, words):
    result = cli(*args, "--json")
    error = one_error(result, 2, code)
    assert words in error["message"] and len(error["message"]) < 300


def test_dry_run_says_whether_the_disk_has_room(cli, tmp_path):
    result = cli("get", REPO, "--quant", "Q8_0", "--ram", "2GiB", "--dry-run", "--local-dir", str(tmp_path / "m"))
    assert result.exit_code == 0 and "enough room" in result.stderr


# --- requests ------------------------------------------------------------------------------------------------


def test_list_and_recommend_send_two_requests_even_with_telemetry_on(cli, hub, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", False)
    monkeypatch.delenv("HF_HUB_DISABLE_TELEMETRY")
    for args in (("list", REPO), ("recommend", REPO, "--ram", "8GiB")):
        hub.reset_counts()
        from quantpick.hub import cache_root

        for saved in cache_root().glob("**/*.json"):
            saved.unlink()  # no saved header: both requests happen
        assert cli(*args, "--json").exit_code == 0
        paths = [r.path for r in hub.requests]
        assert len(paths) == 2 and paths[0].startswith("/api/models/") and "/resolve/" in paths[1], paths


@pytest.mark.parametrize("revision", ["../../../outside", "/abs", "a//b", "bad\nname", "x" * 300])
def test_a_revision_that_would_be_a_path_outside_is_refused(cli, revision, tmp_path, isolated_hf_home):
    before = files_under(tmp_path)
    error = one_error(cli("get", REPO, "--revision", revision, "--ram", "2GiB", "--json"), 2, "invalid_value")
    assert error["message"].startswith("--revision") and len(error["message"]) < 200
    assert files_under(tmp_path) == before
