"""Does llama.cpp's `-hf` reuse what `quantpick get` downloaded? A check against a real llama-server (b11434).

    (build llama-server as bench/rpc/run.py says, and the bench/accuracy models)
    python bench/runner/hf_cache.py          # writes bench/runner/results.md

quantpick get downloads a GGUF from the local test hub into a fresh HF_HOME; then `llama-server -hf REPO:QUANT`
runs with the same HF_HOME and HF_ENDPOINT (llama.cpp reads both, common/common.cpp and common/hf-cache.cpp).
It must load the model without fetching the file again: the hub counts the bytes it serves.
"""

from __future__ import annotations

import json
import os
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
SERVER = WORK / "llama" / "build" / "bin" / "llama-server"
MODEL = WORK / "models" / "llama2-mha-Q4_K_M.gguf"  # loads in llama-server (bench/rpc)
REPO, FILE = "bench/Llama2-shape-GGUF", "Llama2-shape-Q4_K_M.gguf"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    from localhub import LocalHub

    with LocalHub() as hub, tempfile.TemporaryDirectory() as home:
        hub.add_repo(REPO, {FILE: MODEL.read_bytes()})
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": home, "PYTHONPATH": str(ROOT / "src")}
        env.pop("HF_HUB_CACHE", None)
        got = subprocess.run(
            [sys.executable, "-m", "quantpick", "get", f"{REPO}:Q4_K_M", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        path = json.loads(got.stdout)["model_path"]
        first = hub.body_bytes(FILE)
        hub.reset_counts()
        port = free_port()
        log_path = Path(home) / "server.log"
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [
                    str(SERVER),
                    "-hf",
                    f"{REPO}:Q4_K_M",
                    "-c",
                    "512",
                    "--port",
                    str(port),
                    "--host",
                    "127.0.0.1",
                    "--no-repack",  # b11434's AMX kernels crash here (SIGSEGV in ggml_backend_amx_mul_mat)
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            ready = False
            try:
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline and server.poll() is None:
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                            ready = answer.status == 200
                            if ready:
                                break
                    except OSError:
                        time.sleep(0.5)
            finally:
                server.terminate()
                server.wait(30)
        again = hub.body_bytes(FILE)
        requests = [f"{r.method} {r.path} {r.status}" for r in hub.requests]
        log = log_path.read_text()
        (WORK / "hf-cache-server.log").write_text(log)
    loaded = [line for line in log.splitlines() if "loading model" in line or "load_model" in line][:3]
    rows = [
        "# llama.cpp's `-hf` after `quantpick get` (llama-server b11434, local test hub)",
        "",
        "Produced by `python bench/runner/hf_cache.py`.",
        "",
        f"- `quantpick get {REPO}:Q4_K_M` fetched {first} bytes and put the file at `{Path(path).name}` in the"
        " Hugging Face cache layout.",
        f"- `llama-server -hf {REPO}:Q4_K_M` with the same HF_HOME: {'ready' if ready else '**not ready**'};"
        f" file bytes fetched again: {again}.",
        f"- Its requests to the hub: {', '.join(requests) or 'none'}.",
        "",
        "llama-server's log about the model:",
        "",
        *[f"    {line}" for line in loaded],
    ]
    text = "\n".join(rows) + "\n"
    (ROOT / "bench" / "runner" / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
