"""Segmented parallel downloads: ranges on disk, a connection pool, resume by segment, the one-stream fallback."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY_META, MiB
from localhub import gguf_file
from quantpick.transfer import Ranges, segment_bytes_for, split, stored_bytes

REPO = "transfer/Wide-GGUF"
WIDE = gguf_file(16 * MiB, TINY_META, seed=7)
SMALL = gguf_file(3 * MiB, TINY_META, seed=8)
FILES = {"Wide-Q8_0.gguf": WIDE, "Wide-Q4_K_M.gguf": SMALL}


@pytest.fixture(scope="module", autouse=True)
def repo(hub):
    hub.add_repo(REPO, FILES)


def get(cli, tmp_path, quant="Q8_0", *extra):
    return cli("get", REPO, "--quant", quant, "--ram", "2GiB", "--local-dir", str(tmp_path), *extra, "--json")


# --- the pure parts ------------------------------------------------------------------------------------------


def test_ranges_merge_and_report_gaps():
    ranges = Ranges()
    for start, end in [(10, 20), (0, 5), (5, 10), (30, 40), (35, 50)]:
        ranges.add(start, end)
    assert ranges.spans == [[0, 20], [30, 50]]
    assert ranges.prefix() == 20 and ranges.total() == 40
    assert ranges.missing(60) == [(20, 30), (50, 60)]
    ranges.add(20, 30)
    assert ranges.spans == [[0, 50]] and ranges.missing(50) == []


def test_segments_cover_the_gaps_exactly():
    pieces = split([(0, 10 * MiB), (12 * MiB, 13 * MiB + 5)], 4 * MiB)
    assert pieces[0] == (0, 4 * MiB) and pieces[-1] == (12 * MiB, 13 * MiB + 5)
    assert sum(e - s for s, e in pieces) == 11 * MiB + 5
    assert segment_bytes_for(500 * 10**6, 8) == 16 * MiB  # large files: 16 MiB segments
    assert segment_bytes_for(6 * MiB, 8) == 1 * MiB  # small ones: one each per connection, at least 1 MiB


def test_a_state_file_is_trusted_only_for_the_same_file(tmp_path):
    part = tmp_path / "x.gguf.part"
    part.write_bytes(b"\0" * 1000)
    state = part.with_name(part.name + ".state")
    state.write_text(json.dumps({"version": 1, "size": 5000, "etag": "a" * 64, "done": [[0, 400], [600, 900]]}))
    assert stored_bytes(part, 5000, "a" * 64) == 700 and stored_bytes(part, 5000, "a" * 64, prefix_only=True) == 400
    assert stored_bytes(part, 5000, "b" * 64) == 0  # another sha256: not this file
    assert stored_bytes(part, 6000, "a" * 64) == 0  # another size
    state.write_text(json.dumps({"version": 1, "size": 5000, "etag": "a" * 64, "done": [[0, 4000]]}))
    assert stored_bytes(part, 5000, "a" * 64) == 0  # a range past the bytes on disk is a lie


# --- against the local hub -----------------------------------------------------------------------------------


def test_parallel_ranged_download_through_a_cdn_redirect(cli, hub, tmp_path):
    hub.cdn_redirect = True
    hub.per_connection_bps = 64 * MiB  # a CDN's cap per stream: one connection does not fill the line
    hub.reset_counts()
    result = get(cli, tmp_path)
    assert result.exit_code == 0, result
    assert (tmp_path / "Wide-Q8_0.gguf").read_bytes() == WIDE
    transfer = result.json["transfer"]
    assert transfer["segmented"] and transfer["connections"] == 8 and transfer["bytes_fetched"] == 16 * MiB
    file_requests = [r for r in hub.requests if r.path.endswith("Wide-Q8_0.gguf") and r.method == "GET"]
    via_resolve = [r for r in file_requests if "/resolve/" in r.path]
    via_cdn = [r for r in file_requests if r.path.startswith("/cdn/")]
    assert len(via_resolve) == 1  # the redirect is followed once; the CDN URL is reused
    assert len(via_cdn) == 8 and {r.range for r in via_cdn} == {
        f"bytes={i * 2 * MiB}-{(i + 1) * 2 * MiB - 1}" for i in range(8)
    }
    assert hub.body_bytes("Wide-Q8_0") == 16 * MiB  # every byte once
    assert not list(tmp_path.glob("*.part*"))


def test_connections_are_capped(cli, hub, tmp_path):
    hub.per_connection_bps = 64 * MiB
    hub.reset_counts()
    result = get(cli, tmp_path, "Q8_0", "--connections", "3")
    assert result.exit_code == 0 and result.json["transfer"]["connections"] == 3
    ranges = sorted(r.range for r in hub.requests if r.path.endswith("Wide-Q8_0.gguf"))
    assert len(ranges) == 3  # 16 MiB over 3 connections: 3 segments, one each
    bad = cli("get", REPO, "--connections", "17", "--json")
    assert bad.exit_code == 2 and bad.json["error"]["message"].startswith("--connections")


def test_one_connection_when_the_first_stream_already_fills_the_line(tmp_path):
    from quantpick.transfer import FileJob, Pool

    def verdict(megabytes_per_second: float) -> int:
        job = FileJob("x", tmp_path / "x.part", 100 * MiB, None, lambda n: None)
        job.pool = Pool(8)
        for step in range(40):  # 256 KiB pieces at the given pace
            job.observe(256 * 1024, now=step * 256 * 1024 / (megabytes_per_second * 1e6))
        assert job.verdict_given
        return job.pool.width

    assert verdict(800) == 1  # loopback or a LAN mirror: one stream fills the line
    assert verdict(25) == 8  # a CDN's cap per stream: every connection helps


def test_a_server_that_ignores_range_is_fetched_over_one_stream(cli, hub, tmp_path):
    hub.no_range.add("Wide-Q8_0.gguf")
    hub.reset_counts()
    result = get(cli, tmp_path)
    assert result.exit_code == 0, result
    assert (tmp_path / "Wide-Q8_0.gguf").read_bytes() == WIDE
    assert not result.json["transfer"]["segmented"]
    assert any("ignores Range" in note for note in result.json["notes"])


def test_a_segment_answered_429_waits_and_completes(cli, hub, tmp_path):
    hub.script["Wide-Q4_K_M.gguf"] = [(429, {"Retry-After": "0"})]
    result = get(cli, tmp_path, "Q4_K_M")
    assert result.exit_code == 0, result
    assert (tmp_path / "Wide-Q4_K_M.gguf").read_bytes() == SMALL


def test_every_segment_cut_short_still_completes(cli, hub, tmp_path):
    hub.cut_always["Wide-Q8_0.gguf"] = 300_000
    hub.reset_counts()
    result = get(cli, tmp_path)
    assert result.exit_code == 0, result
    assert (tmp_path / "Wide-Q8_0.gguf").read_bytes() == WIDE
    assert hub.body_bytes("Wide-Q8_0") == 16 * MiB  # pieces kept, nothing fetched twice


def test_a_corrupt_segment_fails_the_checksum_and_leaves_nothing(cli, hub, tmp_path):
    hub.corrupt.add("Wide-Q8_0.gguf")
    result = get(cli, tmp_path)
    assert result.exit_code == 5 and result.json["error"]["code"] == "checksum_mismatch"
    assert not (tmp_path / "Wide-Q8_0.gguf").exists() and not list(tmp_path.glob("*.part*"))


def test_kill_9_mid_download_then_resume_fetches_only_what_is_missing(cli, hub, tmp_path, isolated_hf_home):
    hub.per_connection_bps = 1 * MiB  # 8 connections: about 2 s for 16 MiB
    hub.reset_counts()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTPICK_")}
    env.update(HF_HOME=str(isolated_hf_home), PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    command = [sys.executable, "-m", "quantpick", "get", REPO, "--quant", "Q8_0", "--ram", "2GiB"]
    process = subprocess.Popen([*command, "--local-dir", str(tmp_path)], env=env, stdout=subprocess.PIPE)
    state = tmp_path / "Wide-Q8_0.gguf.part.state"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            done = sum(e - s for s, e in json.loads(state.read_text())["done"])
        except (OSError, ValueError, KeyError):
            done = 0
        if done >= 8 * MiB:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    first = hub.body_bytes("Wide-Q8_0")
    assert 0 < first < 16 * MiB
    hub.per_connection_bps = None
    result = get(cli, tmp_path)
    assert result.exit_code == 0, result
    assert result.json["files"][0]["status"] == "resumed"
    assert hashlib.sha256((tmp_path / "Wide-Q8_0.gguf").read_bytes()).digest() == hashlib.sha256(WIDE).digest()
    total = hub.body_bytes("Wide-Q8_0")
    assert total <= 1.1 * 16 * MiB, (
        f"{total / MiB:.1f} MiB in all, {first / MiB:.1f} before the kill, {done / MiB:.1f} recorded"
    )


def test_ctrl_c_mid_download_keeps_the_ranges_and_says_resume(cli, hub, tmp_path, isolated_hf_home):
    hub.per_connection_bps = 1 * MiB
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTPICK_")}
    env.update(HF_HOME=str(isolated_hf_home), PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    command = [sys.executable, "-m", "quantpick", "get", REPO, "--quant", "Q8_0", "--ram", "2GiB"]
    process = subprocess.Popen(
        [*command, "--local-dir", str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    state = tmp_path / "Wide-Q8_0.gguf.part.state"
    deadline = time.monotonic() + 30
    while not state.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and b"resume" in stderr and b"Traceback" not in stderr, stderr
    assert stdout == b"" and not (tmp_path / "Wide-Q8_0.gguf").exists()
    kept = sum(e - s for s, e in json.loads(state.read_text())["done"])
    assert kept > 0
    hub.per_connection_bps = None
    result = get(cli, tmp_path)
    assert result.exit_code == 0 and result.json["files"][0]["status"] == "resumed"
    assert (tmp_path / "Wide-Q8_0.gguf").read_bytes() == WIDE


def test_an_expired_cdn_url_is_resolved_again(cli, hub, tmp_path):
    hub.cdn_redirect = True
    hub.per_connection_bps = 64 * MiB
    # the header read and the first segment pass; the next request to the reused CDN URL finds it expired
    hub.script["/cdn/"] = [(0, {}), (0, {}), (403, {})]
    hub.reset_counts()
    result = get(cli, tmp_path)
    assert result.exit_code == 0, result
    assert (tmp_path / "Wide-Q8_0.gguf").read_bytes() == WIDE
    assert hub.script["/cdn/"] == []  # the 403 was met, and the download went on past it
    assert any(r.status == 403 and r.path.startswith("/cdn/") for r in hub.requests)
