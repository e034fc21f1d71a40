/**
 * One rank of a job started by launchWorkers: joins the group from the
 * environment (makeParallel), then writes the addresses this process listens
 * on (from /proc/net/tcp and tcp6, matched to its own sockets) to
 * `<dir>/rank<N>.json`, between two barriers so that every rank is connected
 * when it looks.
 *
 * Run as `listening.js <dir>`. The test runner also runs every .js under
 * dist/test; without the argument this file does nothing.
 */
import { readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const dir = process.argv[2];
if (dir) await main(dir);

async function main(out: string): Promise<void> {
  const { makeParallel } = await import('../../../src/parallel/make.js');
  const group = makeParallel({ timeoutMs: 20_000 })!;
  group.barrier();
  const storeFile = process.env.PATHO_STORE_FILE ?? null;
  const result = {
    listening: listeningAddresses(),
    storeFile,
    storeFolderMode: storeFile ? statSync(dirname(storeFile)).mode & 0o777 : null,
  };
  writeFileSync(join(out, `rank${group.rank}.json`), JSON.stringify(result));
  group.barrier();
  group.destroy();
}

/** "address:port" of every TCP socket of this process in the LISTEN state. */
function listeningAddresses(): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const socket = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (socket) inodes.add(socket[1]);
    } catch {
      // the descriptor of the readdir itself is gone by now
    }
  }
  const found: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').trim().split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [local, state, inode] = [fields[1], fields[3], fields[9]];
      if (state !== '0A' || !inodes.has(inode)) continue;
      const [hex, port] = local.split(':');
      found.push(`${decodeAddress(hex)}:${parseInt(port, 16)}`);
    }
  }
  return found;
}

/** The kernel prints addresses as 32-bit words in host (little-endian) order. */
function decodeAddress(hex: string): string {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    for (let b = 6; b >= 0; b -= 2) bytes.push(parseInt(hex.slice(word + b, word + b + 2), 16));
  }
  if (bytes.length === 4) return bytes.join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] << 8) | bytes[2 * i + 1]).toString(16));
  return groups.join(':');
}
