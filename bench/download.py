"""Downloads at line rate: quantpick against `hf download` and `aria2c -x 8 -s 8` behind a capped "CDN".

The local hub (tests/localhub.py) serves a file of --size-mb (1000 MB) through a redirect to a CDN path, capped per
connection (as a CDN caps one stream) and in total (the line). Every client runs as its own process,
interleaved, in one run. Also measured: kill -9 at 50% and rerun (bytes fetched in all / file size),
peak RSS, CPU seconds spent hashing, and the uncapped loopback speed against today's single stream.

    python bench/download.py                 # about 7 minutes; writes bench/download-results.md
    python bench/download.py --quick         # one repetition
Needs `aria2c` (Debian's `aria2` package) for the parallel anchor; without it that row is skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from run import machine, run, tool  # noqa: E402

from localhub import LocalHub, gguf_file, llama_metadata  # noqa: E402

MiB = 1024**2
MB = 10**6
REPO = "bench/Wide-GGUF"
FILE = "Wide-Q8_0.gguf"


def env_for(hub: LocalHub, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "QUANTPICK_"))}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=str(ROOT / "src"),
    )
    return env


def clients(hub: LocalHub, work: Path) -> dict[str, callable]:
    commit = hub.repos[REPO].commit
    url = f"{hub.url}/{REPO}/resolve/{commit}/{FILE}"
    qp, hf = tool("quantpick"), tool("hf")

    def quantpick(target: Path, *extra: str) -> list[str]:
        hw = ["--ram", "64GiB", "--reserve", "1MiB"]
        return [qp, "get", REPO, "--quant", "Q8_0", "--local-dir", str(target), *hw, *extra]

    return {
        "quantpick get (8 connections)": lambda t: quantpick(t),
        "quantpick get --connections 1": lambda t: quantpick(t, "--connections", "1"),
        "hf download": lambda t: [hf, "download", REPO, FILE, "--local-dir", str(t)],
        "aria2c -x 8 -s 8": lambda t: [
            "aria2c",
            "-x",
            "8",
            "-s",
            "8",
            "-k",
            "1M",
            "-q",
            "--allow-overwrite=true",
            "-d",
            str(t),
            "-o",
            FILE,
            url,
        ],
    }


def timed(name: str, make, work: Path, env: dict, size: int, repeats: int) -> list[tuple[float, int]]:
    results = []
    for index in range(repeats):
        target = work / f"{abs(hash(name))}-{index}"
        shutil.rmtree(work / "home" / "hub", ignore_errors=True)
        wall, peak, code = run(make(target), env)
        assert code == 0, f"{name} failed"
        assert (target / FILE).stat().st_size == size
        results.append((wall, peak))
        shutil.rmtree(target, ignore_errors=True)
    return results


def throughput_table(hub: LocalHub, work: Path, env: dict, size: int, repeats: int, caps: tuple) -> list[str]:
    per_conn, total = caps
    hub.per_connection_bps, hub.total_bps = per_conn, total
    makers = clients(hub, work)
    if shutil.which("aria2c") is None:
        makers.pop("aria2c -x 8 -s 8")
    if per_conn:  # under a per-connection cap one stream is hf download's speed: the row would repeat it
        makers.pop("quantpick get --connections 1")
    times: dict[str, list[tuple[float, int]]] = {name: [] for name in makers}
    for _ in range(repeats):  # interleaved: noise hits every client alike
        for name, make in makers.items():
            times[name] += timed(name, make, work, env, size, 1)
    limit = min(x for x in (total, per_conn * 8 if per_conn else None) if x) if (total or per_conn) else None
    caption = (
        f"{size // MB} MB file, per-connection cap {per_conn / MB:g} MB/s" if per_conn else f"{size // MB} MB file"
    ) + (f", total cap {total / MB:g} MB/s" if total else "")
    rows = [f"**{caption}**", "", "| client | median wall | throughput | peak RSS | vs aria2c | vs hf download |"]
    rows.append("|---|---:|---:|---:|---:|---:|")
    rate = {name: size / statistics.median(w for w, _ in runs) for name, runs in times.items()}
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        peak = max(p for _, p in runs)
        vs_aria = f"{rate[name] / rate['aria2c -x 8 -s 8']:.2f}x" if "aria2c -x 8 -s 8" in rate else "-"
        rows.append(
            f"| `{name}` | {wall:.2f} s | {rate[name] / MB:.0f} MB/s | {peak / MiB:.0f} MiB | {vs_aria} |"
            f" {rate[name] / rate['hf download']:.2f}x |"
        )
    if limit:
        rows.append(f"| line-rate limit (the caps) | | {limit / MB:.0f} MB/s | | | |")
        share = rate["quantpick get (8 connections)"] / limit
        rows.append("")
        rows.append(f"quantpick reaches {share:.0%} of the limit.")
    rows.append("")
    return rows


def resume_after_kill(hub: LocalHub, work: Path, env: dict, size: int) -> list[str]:
    hub.per_connection_bps, hub.total_bps = 25 * MB, None
    target = work / "resume"
    shutil.rmtree(target, ignore_errors=True)
    hub.reset_counts()
    qp = tool("quantpick")
    command = [qp, "get", REPO, "--quant", "Q8_0", "--local-dir", str(target), "--ram", "64GiB", "--json"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = target / f"{FILE}.part.state"
    while process.poll() is None:
        try:
            done = sum(e - s for s, e in json.loads(state.read_text())["done"])
        except (OSError, ValueError, KeyError):
            done = 0
        if done >= size // 2:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = hub.body_bytes(FILE)
    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result = json.loads(finished.stdout)
    total = hub.body_bytes(FILE)
    digest = hashlib.sha256((target / FILE).read_bytes()).hexdigest()
    assert digest == hub.repos[REPO].sha256(FILE)
    transfer = result["transfer"]
    return [
        "**kill -9 at 50%, then the same command again** (per-connection cap 25 MB/s)",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| fetched before the kill | {first / MB:.0f} MB |",
        f"| fetched by the rerun | {(total - first) / MB:.0f} MB |",
        f"| fetched in all / file size | {total / size:.3f} (goal <= 1.1) |",
        f"| rerun: hashing CPU seconds (prefix re-read, then as it lands) | {transfer['hash_seconds']:.2f} s |",
        f"| rerun: wall seconds | {transfer['seconds']:.2f} s |",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition")
    # 1 GB: quants are 5-40 GB, so the ~0.3 s quantpick spends before the first byte (interpreter, listing,
    # header) weighs far less in real downloads than in this one; it is in every figure below all the same.
    parser.add_argument("--size-mb", type=int, default=1000)
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    size = args.size_mb * MB
    with tempfile.TemporaryDirectory(prefix="quantpick-dl-bench-") as tmp, LocalHub() as hub:
        work = Path(tmp)
        meta = llama_metadata(layers=32, embd=4096, heads=32, kv_heads=8, vocab=128)
        repo = hub.add_repo(REPO, {FILE: gguf_file(size, meta, seed=3)})
        repo.sha256(FILE), repo.blob_id(FILE)  # the hub hashes a file once, lazily: not in a client's time
        hub.cdn_redirect = True
        env = env_for(hub, work / "home")
        rows = [
            "# Download benchmark",
            "",
            f"Machine: {machine()}",
            "",
            "Produced by `python bench/download.py`; one run, clients interleaved, each a separate process.",
            "The local hub redirects to a CDN path and caps bandwidth per connection and in total.",
            "",
        ]
        rows += throughput_table(hub, work, env, size, repeats, (25 * MB, None))
        rows += throughput_table(hub, work, env, size, repeats, (25 * MB, 120 * MB))
        rows += throughput_table(hub, work, env, size, repeats, (None, None))
        rows += resume_after_kill(hub, work, env, size)
    text = "\n".join(rows) + "\n"
    (ROOT / "bench" / "download-results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
