"""Check quantpick's several-machines plan against a real llama.cpp RPC setup on this machine (loopback).

    bash bench/accuracy/build.sh                       # once; then, in its build folder:
    cmake -S bench/_work/accuracy/llama/src -B bench/_work/accuracy/llama/build -DGGML_RPC=ON -DLLAMA_BUILD_SERVER=ON
    ninja -C bench/_work/accuracy/llama/build llama-server ggml-rpc-server
    python bench/accuracy/run.py                       # once: the models
    python bench/rpc/run.py                            # writes bench/rpc/results.md

Two rpc-servers listen on 127.0.0.1; quantpick is told their memory with --rpc and plans the bench/accuracy
Llama-2-7B-shaped model across them; quantpick get downloads it from the local test hub; llama-server runs
quantpick's printed command, generates, and logs the buffers it put on each device, which are compared with
quantpick's plan (bar: within 10%).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
WORK = ROOT / "bench" / "_work" / "accuracy"
BIN = WORK / "llama" / "build" / "bin"
MODEL = WORK / "models" / "llama2-mha-Q4_K_M.gguf"
MiB = 1024**2
ADDRESSES = ("127.0.0.1:50052", "127.0.0.1:50053")
# (worker memory figures given to quantpick, extra quantpick flags): the first puts every repeating layer on the
# first worker and the output layer on the second; the next split the layers 3 + 1 (with the output layer); the
# last leaves layers on the head's CPU, so llama.cpp runs no pipeline.
SETUPS = (
    (("1GiB", "512MiB"), ()),
    (("768MiB", "768MiB"), ()),
    (("768MiB", "768MiB"), ("--flash-attn", "off")),
    (("384MiB", "256MiB"), ()),  # too small for every layer: the head's CPU runs the first ones
)
_BUFFER = re.compile(r"(\S+) +(model|KV|compute) buffer size = +([\d.]+) MiB")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def quantpick(env: dict[str, str], *args: str) -> dict:
    command = [sys.executable, "-m", "quantpick", *args, "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"quantpick {' '.join(args)} failed: {done.stderr}")
    return json.loads(done.stdout)


def wait_ready(port: int, server: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("llama-server exited")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("llama-server did not become ready")


def plan_and_run(hub_url: str, home: str, sizes: tuple[str, str], extra: tuple[str, ...]) -> list[str]:
    """Plan with quantpick, run its printed command against the rpc-servers, and compare device by device."""
    env = {**os.environ, "HF_ENDPOINT": hub_url, "HF_HOME": home, "PYTHONPATH": str(ROOT / "src")}
    rpc = [flag for address, size in zip(ADDRESSES, sizes, strict=True) for flag in ("--rpc", f"{address}={size}")]
    plan_args = ["bench/Llama2-shape-GGUF", "--quant", "Q4_K_M", "--ctx", "2048", "--parallel", "1", *extra]
    plan_args += ["--vram", "0", "--ram", "2GiB", *rpc]
    plan = quantpick(env, "recommend", *plan_args)
    got = quantpick(env, "get", *plan_args)
    port = free_port()
    # --no-repack: layers left on the head's CPU stay in the mapped file (AMX copies are reported apart by
    # quantpick, and llama.cpp b11434 crashes in the AMX kernels on this CPU, bench/runner/results.md)
    command = got["command"].split() + ["--port", str(port), "--host", "127.0.0.1", "-lv", "4", "--no-repack"]
    log_path = Path(home) / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([str(BIN / command[0]), *command[1:]], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(port, server)
            request = json.dumps({"prompt": "Hello", "n_predict": 8}).encode()
            with urllib.request.urlopen(
                urllib.request.Request(f"http://127.0.0.1:{port}/completion", data=request), timeout=120
            ) as answer:
                completion = json.loads(answer.read())
        finally:
            server.terminate()
            server.wait(30)
    (WORK / "rpc-server.log").write_text(log_path.read_text())  # kept for a look: bench/_work/accuracy
    logged: dict[str, float] = {}
    for buffer, _kind, mib in _BUFFER.findall(log_path.read_text()):
        logged[buffer] = logged.get(buffer, 0.0) + float(mib) * MiB
    rows = [
        f"### Workers {' and '.join(sizes)}{' ' + ' '.join(extra) if extra else ''}",
        "",
        f"quantpick's command: `{got['command'].replace(home, '$HF_HOME')}`",
        "",
        f"Generated {completion.get('tokens_predicted', 0)} tokens"
        f" ({completion.get('timings', {}).get('predicted_per_second', 0):.1f} tok/s).",
        "",
        "| device | quantpick: layers, bytes | llama.cpp: model + KV + compute | error | bar (10%) |",
        "|---|---:|---:|---:|:-:|",
    ]
    failures = 0
    runtime = plan["pick"]["memory"]["runtime_bytes"]
    for device in plan["cluster"]["devices"]:
        if device["host"] == "head":
            # the head's buffers only: the runtime outside them is not in llama.cpp's log
            names = [b for b in logged if not b.startswith("RPC")]
            planned = device["bytes"] - runtime
        else:
            names = [b for b in logged if f"[{device['host']}]" in b]
            planned = device["bytes"]
        actual = sum(logged[b] for b in names)
        error = (planned - actual) / actual if actual else float("inf")
        ok = abs(error) <= 0.10
        failures += not ok
        rows.append(
            f"| {device['device']} ({device['host']}) | {device['layers']}, {planned / MiB:.1f} MiB |"
            f" {actual / MiB:.1f} MiB ({', '.join(names)}) | {error:+.1%} | {'yes' if ok else '**no**'} |"
        )
    rows += ["", f"Devices outside the bar: {failures}.", "", "llama.cpp's buffers:", ""]
    rows += [f"- {name}: {size / MiB:.1f} MiB" for name, size in sorted(logged.items())]
    return rows + [""]


def main() -> None:
    from localhub import LocalHub

    rows = [
        "# quantpick's several-machines plan vs llama.cpp RPC (loopback)",
        "",
        "Produced by `python bench/rpc/run.py`: two rpc-servers on 127.0.0.1 (CPU devices), the head on this"
        " machine, the bench/accuracy Llama-2-7B-shaped Q4_K_M (4 layers), context 2048, one slot. The head's row"
        " compares its buffers only (quantpick's figure less its runtime estimate, which llama.cpp does not log).",
        "",
    ]
    for sizes, extra in SETUPS:
        # a fresh pair of rpc-servers per run: ggml-rpc-server may exit when a client goes away mid-session
        servers = [
            subprocess.Popen(
                [str(BIN / "ggml-rpc-server"), "-H", "127.0.0.1", "-p", address.rsplit(":", 1)[1]],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for address in ADDRESSES
        ]
        time.sleep(1.5)
        try:
            with LocalHub() as hub, tempfile.TemporaryDirectory() as home:
                hub.add_repo("bench/Llama2-shape-GGUF", {"Llama2-shape-Q4_K_M.gguf": MODEL.read_bytes()})
                rows += plan_and_run(hub.url, home, sizes, extra)
        finally:
            for server in servers:
                server.terminate()
                server.wait(10)
    text = "\n".join(rows)
    (ROOT / "bench" / "rpc" / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
