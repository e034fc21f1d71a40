/**
 * A small pool of data-loading worker threads.
 *
 * A worker is referenced (keeps the process alive) only while it has work
 * somebody waits for: idle workers never hold a finished program open, yet
 * stay alive between epochs with their decoded-image caches, as PyTorch's
 * persistent workers do. close() terminates them.
 */
import { Worker } from 'node:worker_threads';
import { SlideError } from '../wsi/errors.js';
import { DatasetError } from './dataset.js';
import { ImageDecodeError } from './decode.js';
import { combineSums, type ChannelStats, type ChannelSums } from './normalize.js';
import type { WorkerError, WorkerReply } from './protocol.js';
import type { WorkerTask } from './worker.js';

/** The typed errors a worker's failure is rebuilt as, by name. */
const TYPED_ERRORS: Record<string, (e: WorkerError) => Error> = {
  ImageDecodeError: (e) => new ImageDecodeError(e.file ?? '', e.reason ?? e.message),
  SlideError: (e) => new SlideError(e.path ?? '', e.message),
  DatasetError: (e) => new DatasetError(e.problems ?? [], e.message),
};

/** The error a worker sent, as the class it was thrown as (or a plain Error of that name). */
function rebuildError(sent: WorkerError): Error {
  const make = TYPED_ERRORS[sent.name];
  if (make) return make(sent);
  const error = new Error(sent.message);
  error.name = sent.name;
  return error;
}

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/**
 * Worker threads running `script` (default src/data/worker.ts; the slide
 * loader's is src/wsi/worker.ts), each started with `init` as its workerData.
 */
export class WorkerPool<Task extends { kind: string } = WorkerTask> {
  private readonly slots: Slot[];
  private nextId = 0;
  private failure: Error | null = null;
  private closing = false;

  constructor(count: number, init: unknown, script: URL = new URL('./worker.js', import.meta.url)) {
    this.slots = Array.from({ length: count }, () => this.start(init, script));
  }

  /** Number of worker threads. */
  get size(): number {
    return this.slots.length;
  }

  /** Sends a request to the least busy worker; resolves with its result. */
  run<T>(task: Task): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new Error('data loader workers are closed'));
    const slot = this.slots.reduce((best, s) => (s.pending.size < best.pending.size ? s : best));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      if (slot.pending.size === 1) slot.worker.ref();
      slot.worker.postMessage({ ...task, id });
    });
  }

  /** Terminates every worker; pending requests are rejected. */
  async close(): Promise<void> {
    this.closing = true;
    this.failAll(new Error('data loader closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private start(init: unknown, script: URL): Slot {
    const worker = new Worker(script, {
      workerData: init,
      // --input-type (from `node --input-type=module -e ...`) is refused for file workers
      execArgv: process.execArgv.filter((arg) => !arg.startsWith('--input-type')),
    });
    const slot: Slot = { worker, pending: new Map() };
    worker.unref();
    worker.on('message', (reply: WorkerReply) => {
      const pending = slot.pending.get(reply.id);
      if (!pending) return;
      slot.pending.delete(reply.id);
      if (slot.pending.size === 0) worker.unref();
      if (reply.ok) pending.resolve(reply.result);
      else pending.reject(rebuildError(reply.error));
    });
    worker.on('error', (error) => this.fail(new Error(`data loader worker failed: ${error.message}`)));
    worker.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`data loader worker exited with code ${code}`));
    });
    return slot;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.failAll(error);
  }

  private failAll(error: Error): void {
    for (const slot of this.slots) {
      for (const p of slot.pending.values()) p.reject(error);
      slot.pending.clear();
      slot.worker.unref();
    }
  }
}

/**
 * Channel statistics of the samples `indices`, their sums computed across
 * the workers (which also fills their caches) and combined in index order, so
 * the result is the same for any worker count.
 */
export async function statsAcrossWorkers(pool: WorkerPool<{ kind: 'sums'; indices: number[] }>, indices: number[]): Promise<ChannelStats> {
  const parts = await Promise.all(
    Array.from({ length: pool.size }, (_, w) => pool.run<ChannelSums[]>({ kind: 'sums', indices: indices.filter((i) => i % pool.size === w) })),
  );
  return combineSums(indices.map((i) => parts[i % pool.size][Math.floor(i / pool.size)]));
}
