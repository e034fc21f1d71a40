#!/usr/bin/env bash
# One-step set-up on Debian 12 / Ubuntu: system packages (libtorch, Gloo headers,
# build tools), npm packages, the native addon and the TypeScript.
#   ./setup.sh            set up everything
#   ./setup.sh --train    then train on the bundled membrane data set (patho train)
# Set LIBTORCH=/path/to/libtorch or LIBTORCH_USE_PYTORCH=1 to build against
# another libtorch (a CUDA one, for GPUs); then the apt step skips libtorch-dev.
set -euo pipefail
cd "$(dirname "$0")"

packages=(cmake g++ make ninja-build chromium libopenslide-dev)
if [[ -z "${LIBTORCH:-}" && "${LIBTORCH_USE_PYTORCH:-}" != "1" ]]; then
  packages+=(libtorch-dev libgloo-dev)
fi
# Node.js itself: most machines have it; a bare Debian 12 gets its nodejs (18) and npm
command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# onnxruntime-node: the CPU provider ships in the npm package; skip its CUDA download (also in .npmrc)
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
npm run build

if [[ "${1:-}" == "--train" ]]; then
  node bin/patho.js train
fi
