"""quantpick's benchmarks: start-up, Hub round trips, download speed and scale, side by side with `hf`.

Starts the project's local hub (tests/localhub.py) on 127.0.0.1 with generated repos, runs every
command as a separate process (interleaved, so machine noise hits all of them alike), prints a
markdown table and writes it to bench/results.md with a description of the machine.

    python bench/run.py            # about 1-2 minutes
    python bench/run.py --quick    # fewer repetitions
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from localhub import LocalHub, gguf_file, llama_metadata  # noqa: E402

MiB = 1024**2
BIN = Path(sys.executable).parent
META = llama_metadata(layers=32, embd=4096, heads=32, kv_heads=8, vocab=128)


def tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


# Each command is started by a small launcher process, so its peak RSS is its own and not the
# (large, repo-holding) benchmark process's that a direct fork would inherit.
LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump([wall, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status)], out)
"""


def run(cmd: list[str], env: dict) -> tuple[float, int, int]:
    """(wall seconds, peak RSS bytes, exit code) of one process."""
    import json

    with tempfile.NamedTemporaryFile("r", suffix=".json") as report:
        subprocess.run([sys.executable, "-c", LAUNCHER, report.name, *cmd], env=env, check=True)
        wall, peak, code = json.loads(Path(report.name).read_text())
    return wall, peak, code


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        ram = int(Path("/proc/meminfo").read_text().split()[1]) * 1024 / 1024**3
    except (OSError, ValueError, IndexError):
        ram = 0
    return (
        f"{model}, {os.cpu_count()} logical CPUs, {ram:.1f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def make_repos(hub: LocalHub, download_sizes: tuple[int, ...]) -> None:
    quants = {
        "Q8_0": 8.5,
        "Q6_K": 6.6,
        "Q5_K_M": 5.7,
        "Q4_K_M": 4.9,
        "Q4_K_S": 4.7,
        "IQ4_XS": 4.4,
        "Q3_K_M": 4.0,
        "IQ3_M": 3.8,
        "Q2_K": 3.2,
        "IQ2_M": 2.9,
    }
    files = {
        f"Model-{q}.gguf": gguf_file(int(gb * 100 * 1024), META, seed=i) for i, (q, gb) in enumerate(quants.items())
    }
    for n in (1, 2, 3):
        meta = META if n == 1 else {"split.no": n - 1}
        files[f"Model-F16/Model-F16-0000{n}-of-00003.gguf"] = gguf_file(600 * 1024, meta, seed=100 + n)
    files.update({f"extra-{i}.txt": b"x" for i in range(30 - len(files))})
    hub.add_repo("bench/Model-GGUF", files)  # 30 files
    big = {}
    for i in range(120):  # 2,000 files: 120 quants of 16 shards plus sidecars
        label = ["Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "IQ3_M", "Q3_K_L"][i % 6]
        folder = f"v{i:03d}-{label}"
        for n in range(1, 17):
            big[f"{folder}/Model-v{i:03d}-{label}-{n:05d}-of-00016.gguf"] = META_BYTES if n == 1 else b"s"
    big.update({f"notes/n{i}.md": b"x" for i in range(2000 - len(big))})
    hub.add_repo("bench/Huge-GGUF", big)
    for size in download_sizes:
        hub.add_repo(f"bench/Download-{size // MiB}MB-GGUF", {"Big-Q8_0.gguf": gguf_file(size, META, seed=size)})


META_BYTES = gguf_file(4096, META, seed=7)


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def startup(env: dict, repeats: int) -> tuple[list[str], dict]:
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "hf --help": [tool("hf"), "--help"],
        "quantpick --help": [tool("quantpick"), "--help"],
        "quantpick probe --json": [tool("quantpick"), "probe", "--json"],
        "quantpick catalog --json": [tool("quantpick"), "catalog", "--json"],
        "quantpick recommend --json": [tool("quantpick"), "recommend", "--json"],
    }
    times = {name: [] for name in commands}
    peaks = dict.fromkeys(commands, 0)
    for _ in range(repeats):
        for name, cmd in commands.items():  # interleaved
            wall, peak, code = run(cmd, env)
            if code != 0:
                raise SystemExit(f"{name} failed with exit {code}")
            times[name].append(wall)
            peaks[name] = max(peaks[name], peak)
    hf = median_ms(times["hf --help"])
    goals = {"quantpick --help": 0.35, "quantpick probe --json": 0.45}
    rows = ["| command | median wall | peak RSS | ratio to `hf --help` | goal |", "|---|---:|---:|---:|---|"]
    figures = {}
    for name in commands:
        ms = median_ms(times[name])
        ratio = ms / hf
        goal = goals.get(name)
        verdict = f"<= {goal}x: {'met' if ratio <= goal else 'MISSED'}" if goal else ""
        rows.append(f"| `{name}` | {ms:.0f} ms | {peaks[name] / MiB:.0f} MiB | {ratio:.2f}x | {verdict} |")
        figures[name] = ratio
    return rows, figures


def round_trips(hub: LocalHub, env: dict, work: Path) -> list[str]:
    qp = tool("quantpick")
    hw = ["--ram", "64GiB", "--vram", "0"]
    cases = [
        ("list", [qp, "list", "bench/Model-GGUF", "--json"], 2),
        ("recommend REPO", [qp, "recommend", "bench/Model-GGUF", *hw, "--json"], 2),
        (
            "get (single file)",
            [qp, "get", "bench/Model-GGUF", "--quant", "Q4_K_M", "--local-dir", str(work / "a"), *hw],
            None,
        ),
        (
            "get (split set, 3 shards)",
            [qp, "get", "bench/Model-GGUF", "--quant", "F16", "--local-dir", str(work / "a"), *hw],
            None,
        ),
        (
            "second identical get",
            [qp, "get", "bench/Model-GGUF", "--quant", "F16", "--local-dir", str(work / "a"), *hw],
            "no body",
        ),
    ]
    rows = ["| command | HTTP requests | file bodies fetched | goal |", "|---|---:|---:|---|"]
    for index, (name, cmd, goal) in enumerate(cases):
        # a cold cache for each case, except the repeat, which reuses the previous get's
        home = work / f"rt-home-{index if goal != 'no body' else index - 1}"
        hub.reset_counts()
        _, _, code = run(cmd, {**env, "HF_HOME": str(home)})
        if code != 0:
            raise SystemExit(f"{name} failed with exit {code}")
        count = len(hub.requests)
        header_read = f"bytes=0-{4 * MiB - 1}"  # the GGUF header read (hub.py HEADER_MAX_BYTES)
        bodies = sum(1 for r in hub.requests if "/resolve/" in r.path and r.method == "GET" and r.range != header_read)
        if goal == "no body":
            verdict = "met" if bodies == 0 else "MISSED"
            goal_text = f"no file body: {verdict}"
        elif goal:
            goal_text = f"<= {goal}: {'met' if count <= goal else 'MISSED'}"
        else:
            goal_text = ""
        rows.append(f"| `{name}` | {count} | {bodies} | {goal_text} |")
    return rows


def stream_get(url: str, path: Path) -> None:
    import urllib.request

    with urllib.request.urlopen(url) as response, open(path, "wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)


def download(hub: LocalHub, env: dict, work: Path, repeats: int, sizes: tuple[int, ...]) -> list[str]:
    big = max(sizes)
    repo = f"bench/Download-{big // MiB}MB-GGUF"
    url = f"{hub.url}/{repo}/resolve/main/Big-Q8_0.gguf"
    plain = [
        sys.executable,
        "-c",
        f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import run; "
        f"run.stream_get({url!r}, __import__('pathlib').Path(sys.argv[1]))",
        str(work / "plain.bin"),
    ]
    tools = {
        "plain streaming GET (loopback limit)": plain,
        "hf download REPO FILE --local-dir": [
            tool("hf"),
            "download",
            repo,
            "Big-Q8_0.gguf",
            "--local-dir",
            str(work / "hf"),
        ],
        "quantpick get --quant Q8_0 --local-dir": [
            tool("quantpick"),
            "get",
            repo,
            "--quant",
            "Q8_0",
            "--local-dir",
            str(work / "qp"),
            "--ram",
            "64GiB",
        ],
    }
    times = {name: [] for name in tools}
    peaks = dict.fromkeys(tools, 0)
    for _ in range(repeats):
        for name, cmd in tools.items():
            for folder in ("hf", "qp"):
                shutil.rmtree(work / folder, ignore_errors=True)
            home = work / "dl-home"
            shutil.rmtree(home, ignore_errors=True)
            wall, peak, code = run(cmd, {**env, "HF_HOME": str(home)})
            if code != 0:
                raise SystemExit(f"{name} failed with exit {code}")
            times[name].append(wall)
            peaks[name] = max(peaks[name], peak)
    hf = statistics.median(times["hf download REPO FILE --local-dir"])
    rows = [
        f"| {big // MiB} MB file | median wall | throughput | peak RSS | ratio to `hf download` | goal |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in tools:
        wall = statistics.median(times[name])
        goal = ""
        if name.startswith("quantpick"):
            goal = f"<= 1.2x: {'met' if wall / hf <= 1.2 else 'MISSED'}"
        rows.append(
            f"| `{name}` | {wall * 1000:.0f} ms | {big / wall / MiB:.0f} MiB/s | {peaks[name] / MiB:.0f} MiB "
            f"| {wall / hf:.2f}x | {goal} |"
        )
    memory = []
    for size in sorted(sizes):
        shutil.rmtree(work / "qp", ignore_errors=True)
        _, peak, _ = run(
            [
                tool("quantpick"),
                "get",
                f"bench/Download-{size // MiB}MB-GGUF",
                "--quant",
                "Q8_0",
                "--local-dir",
                str(work / "qp"),
                "--ram",
                "64GiB",
            ],
            {**env, "HF_HOME": str(work / "m")},
        )
        memory.append((size, peak))
    (small, small_peak), (large, large_peak) = memory[0], memory[-1]
    growth = (large_peak - small_peak) / MiB
    rows.append("")
    rows.append("| peak RSS of `quantpick get` | value |")
    rows.append("|---|---:|")
    for size, peak in memory:
        rows.append(f"| {size // MiB} MB file | {peak / MiB:.0f} MiB |")
    verdict = "met" if growth < 16 else "MISSED"
    rows.append(f"| growth from {small // MiB} MB to {large // MiB} MB | {growth:+.1f} MiB (goal: flat, {verdict}) |")
    return rows


def scale(env: dict, repeats: int) -> list[str]:
    qp = tool("quantpick")
    hw = ["--ram", "64GiB", "--vram", "0", "--json"]
    cases = {
        "30 files": [qp, "recommend", "bench/Model-GGUF", *hw],
        "2,000 files": [qp, "recommend", "bench/Huge-GGUF", *hw],
    }
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, cmd in cases.items():
            wall, _, code = run(cmd, env)
            if code != 0:
                raise SystemExit(f"recommend on {name} failed with exit {code}")
            times[name].append(wall)
    small, large = median_ms(times["30 files"]), median_ms(times["2,000 files"])
    extra = large - small
    return [
        "| `quantpick recommend REPO --json` | median wall |",
        "|---|---:|",
        f"| 30 files | {small:.0f} ms |",
        f"| 2,000 files | {large:.0f} ms |",
        f"| difference | {extra:+.0f} ms (goal < 100 ms: {'met' if extra < 100 else 'MISSED'}) |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    sizes = (50 * MiB, 200 * MiB)
    work = Path(tempfile.mkdtemp(prefix="quantpick-bench-"))
    with LocalHub() as hub:
        make_repos(hub, sizes)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(
            HF_ENDPOINT=hub.url,
            HF_HOME=str(work / "home"),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_IMPLICIT_TOKEN="1",
            NO_COLOR="1",
        )
        # warm the listing/header caches the way a user's second run would see them
        sections = []
        print("start-up...", file=sys.stderr)
        rows, _ = startup(env, repeats)
        sections.append(("Start-up (no network)", rows))
        print("round trips...", file=sys.stderr)
        sections.append(("Round trips to the Hub (counted by the local hub)", round_trips(hub, env, work)))
        print("download...", file=sys.stderr)
        sections.append(("Download over loopback", download(hub, env, work, max(3, repeats // 2), sizes)))
        print("scale...", file=sys.stderr)
        sections.append(("Scale: a 2,000-file repo", scale(env, repeats)))
    shutil.rmtree(work, ignore_errors=True)
    stamp = time.strftime("%Y-%m-%d")
    lines = [
        f"# quantpick benchmarks ({stamp})",
        "",
        f"Machine: {machine()}",
        "",
        "Produced by `python bench/run.py`; every figure is from one run, commands interleaved.",
        "",
    ]
    for title, rows in sections:
        lines += [f"## {title}", "", *rows, ""]
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "results.md").write_text(text)


if __name__ == "__main__":
    main()
