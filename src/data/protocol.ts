/**
 * The reply protocol of the loader workers (src/data/worker.ts and
 * src/wsi/worker.ts). It lives in its own module because the worker entry
 * files start a worker when imported inside a worker thread.
 *
 * A failure travels as its name, message and the fields its typed error
 * needs, so that WorkerPool rethrows the same ImageDecodeError, SlideError or
 * DatasetError as a loader without workers (the CLI picks its exit code by
 * the error's name).
 */
import type { DatasetProblem } from './dataset.js';

/** A failed request's error, as sent from a worker. */
export interface WorkerError {
  name: string;
  message: string;
  /** ImageDecodeError */
  file?: string;
  reason?: string;
  /** SlideError */
  path?: string;
  /** DatasetError */
  problems?: DatasetProblem[];
}

/** A reply: the result, or the error. */
export type WorkerReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: WorkerError };

/** The reply to request `id` that failed with `error`. */
export function errorReply(id: number, error: unknown): WorkerReply {
  if (!(error instanceof Error)) return { id, ok: false, error: { name: 'Error', message: String(error) } };
  const e = error as Error & Partial<Omit<WorkerError, 'name' | 'message'>>;
  const sent: WorkerError = { name: e.name, message: e.message };
  if (typeof e.file === 'string') sent.file = e.file;
  if (typeof e.reason === 'string') sent.reason = e.reason;
  if (typeof e.path === 'string') sent.path = e.path;
  if (Array.isArray(e.problems)) sent.problems = e.problems.map((p) => ({ file: String(p.file), message: String(p.message) }));
  return { id, ok: false, error: sent };
}
