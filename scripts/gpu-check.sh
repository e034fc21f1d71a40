#!/usr/bin/env bash
# One call on the GPU machine (PyTorch 2.x + CUDA at /opt/torch/.venv, nvcc,
# cmake, ninja; no Node.js, no network): unpack the carried Node.js and npm
# packages (scripts/gpu-pack.sh made them), build the addon against the local
# PyTorch's libtorch, run the whole test suite with CUDA tests enabled, then the
# GPU benchmark. Results go to $OUT (or ./gpu-results). Finishes in a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
carry=.gpu-carry
results=${OUT:-gpu-results}
mkdir -p "$results" .gpu-node/bin
export PYTHON=${PYTHON:-/opt/torch/.venv/bin/python}
export PATH="$PWD/.gpu-node/bin:$(dirname "$PYTHON"):$PATH"

step() { echo "== $* ($(date +%T))"; }

step "unpack Node.js and packages"
if command -v xz >/dev/null; then unxz() { xz -dc "$1"; }; else unxz() { "$PYTHON" -c 'import lzma,sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' "$1"; }; fi
unxz "$carry/node.xz" > .gpu-node/bin/node && chmod +x .gpu-node/bin/node
unxz "$carry/node_modules.tar.xz" | tar x
unxz "$carry/dist.tar.xz" | tar x
node --version
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$results/gpu.txt"

step "build the addon against PyTorch's libtorch"
LIBTORCH_USE_PYTORCH=1 node scripts/build-native.mjs 2>&1 | tail -n 5 | tee "$results/build.txt"

step "tests (CUDA tests enabled)"
# The GPU machine has no OpenSlide and no Chromium, so the slide (infer/) and
# browser (report/, serve/) suites, which need them, are left to CI.
suites=(tensor nn optim models gpu losses metrics train parallel data io cli)
set +e
node --test --test-concurrency=1 --test-reporter=spec "${suites[@]/#/dist/test/}" > "$results/tests.txt" 2>&1
tests=$?
set -e
tail -n 12 "$results/tests.txt"

step "GPU benchmark: patho vs PyTorch eager (and torch.compile)"
node dist/bench/gpu.js --python "$PYTHON" 2>&1 | tee "$results/bench.txt"

step "data-parallel scaling over this machine's GPUs (NCCL, 1, 2, 4, ... processes)"
node dist/bench/gpu-scaling.js --steps 10 2>&1 | tee "$results/scaling.txt" || true

step "done (tests exit code $tests)"
exit $tests
