#!/usr/bin/env bash
# Load the Llama-3-8B-shaped model under a cgroup v1 memory limit (needs root and a writable memory controller),
# with and without llama.cpp's AMX/CPU_REPACK copies, to see which memory is hard and which is reclaimable.
# usage: bash bench/accuracy/limit.sh [LIMIT_MIB ...]   (after build.sh and run.py)
set -euo pipefail
cd "$(dirname "$0")/../_work/accuracy"
cg=/sys/fs/cgroup/memory/quantpick-accuracy
mkdir -p "$cg"
model=models/llama3-gqa-Q4_K_M.gguf
out="$(pwd)/../../accuracy/limit-results.md"
{
echo "# Loading under a memory limit (llama.cpp b11434, CPU backend, cgroup v1 memory.limit_in_bytes)"
echo
echo "Produced by \`bash bench/accuracy/limit.sh\`: the Llama-3-8B-shaped Q4_K_M (file 1195 MiB; with the repacked"
echo "copies on: 749 MiB stays mapped, 921 MiB is copied into an AMX buffer), 8192 tokens, one sequence: KV 128 MiB."
echo "quantpick's total for it is 1660 MiB. 'repack' on = llama.cpp's default; off = PROBE_NO_EXTRA_BUFTS=1."
echo
echo "| limit | repack | result |"
echo "|---|---|---|"
limits=("$@")
[ ${#limits[@]} -gt 0 ] || limits=(1660 1200 1000 900)
for limit in "${limits[@]}"; do
  for extra in 1 0; do
    echo $((limit * 1048576)) > "$cg/memory.limit_in_bytes"
    echo 0 > "$cg/memory.max_usage_in_bytes"
    sync && echo 3 > /proc/sys/vm/drop_caches
    set +e
    ( echo $BASHPID > "$cg/cgroup.procs"
      PROBE_NO_EXTRA_BUFTS=$((1 - extra)) exec llama/build/bin/quantpick-probe "$model" 8192 1 1 512 -1 1 1 ) \
      > /tmp/quantpick-limit.out 2> /tmp/quantpick-limit.err
    rc=$?
    set -e
    echo "| $limit MiB | $([ $extra = 1 ] && echo on || echo off) | $([ $rc = 0 ] && echo loads || echo "killed ($rc)") |"
  done
done
echo
echo "Mapped pages are clean: the kernel reclaims them under the limit and loading succeeds as long as the"
echo "anonymous memory (repacked copies + KV cache + runtime) fits. With AMX that is about 1080 MiB here, so 1000 MiB"
echo "kills it; without the copies everything but the KV cache is file-backed. The probe runs no batch, so the"
echo "compute buffer is not resident and generation under a tight limit would re-read weights from disk."
} | tee "$out"
