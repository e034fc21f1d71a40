#!/usr/bin/env node
// Builds native/ into native/build/patho.node with CMake.
// libtorch is found the way tch-rs users know (see DESIGN.md):
//   1. LIBTORCH=/path/to/libtorch
//   2. LIBTORCH_USE_PYTORCH=1: the libtorch inside python3's PyTorch
//   3. the system's libtorch (Debian/Ubuntu libtorch-dev)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const buildDir = join(root, 'native', 'build');

const HOW_TO =
  'patho: libtorch was not found. Provide it in one of three ways:\n' +
  '  1. LIBTORCH=/path/to/libtorch (a folder with share/cmake/Torch or lib/cmake/Torch)\n' +
  '  2. LIBTORCH_USE_PYTORCH=1 to use the libtorch inside the python3 PyTorch install\n' +
  '  3. the system libtorch: on Debian/Ubuntu, apt-get install libtorch-dev libgloo-dev';

function torchPrefix() {
  if (process.env.LIBTORCH) {
    const dir = resolve(process.env.LIBTORCH);
    for (const sub of ['share/cmake/Torch', 'lib/cmake/Torch']) {
      if (existsSync(join(dir, sub, 'TorchConfig.cmake'))) return dir;
    }
    fail(`LIBTORCH=${dir} has no share/cmake/Torch or lib/cmake/Torch.\n\n${HOW_TO}`);
  }
  if (process.env.LIBTORCH_USE_PYTORCH === '1') {
    const python = process.env.PYTHON || 'python3';
    try {
      return execFileSync(python, ['-c', 'import torch; print(torch.utils.cmake_prefix_path)'], { encoding: 'utf8' }).trim();
    } catch {
      fail(`LIBTORCH_USE_PYTORCH=1 but '${python} -c "import torch"' failed.\n\n${HOW_TO}`);
    }
  }
  return null; // CMake's default search finds the system's libtorch-dev
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

const prefix = torchPrefix();
const includeDirs = [require('node-api-headers').include_dir, dirname(require.resolve('node-addon-api/package.json'))];
const configure = ['-S', join(root, 'native'), '-B', buildDir, `-DNODE_API_INCLUDE_DIRS=${includeDirs.join(';')}`];
if (prefix) configure.push(`-DCMAKE_PREFIX_PATH=${prefix}`);
const ncclHint = process.env.LIBTORCH_USE_PYTORCH === '1' ? pythonNcclInclude() : null;
if (ncclHint) configure.push(`-DPATHO_NCCL_INCLUDE_HINT=${ncclHint}`);
if (process.env.CMAKE_GENERATOR === undefined && hasNinja()) configure.push('-G', 'Ninja');

try {
  execFileSync('cmake', configure, { stdio: 'inherit' });
  const jobs = String(Math.max(1, Math.min(cpus().length, 8)));
  execFileSync('cmake', ['--build', buildDir, '--parallel', jobs], { stdio: 'inherit' });
} catch {
  fail('patho: the native build failed (see the messages above).');
}

/** PyTorch wheels bring nccl.h in the nvidia-nccl package, not in libtorch's include folder. */
function pythonNcclInclude() {
  const python = process.env.PYTHON || 'python3';
  try {
    const code = 'import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], "include"))';
    return execFileSync(python, ['-c', code], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function hasNinja() {
  try {
    execFileSync('ninja', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
