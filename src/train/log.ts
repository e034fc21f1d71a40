/**
 * The run log: one JSON object per line (JSON Lines), appended as training
 * goes. Each line is written with a synchronous write to the file
 * descriptor, so nothing waits in a JavaScript buffer: a crash or a kill
 * keeps every line written before it (`fsync: true` also survives a power
 * loss, at the cost of a disk flush per line).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Options of `RunLog`. */
export interface RunLogOptions {
  /** false starts a new file instead of appending (default true, so a resumed run continues its log) */
  append?: boolean;
  /** flush each line to the disk itself, not only to the operating system (default false) */
  fsync?: boolean;
}

/** Appends records to a JSON-lines file, creating its folder if needed. */
export class RunLog<T extends object = Record<string, unknown>> {
  readonly path: string;
  private fd: number | undefined;
  private readonly fsync: boolean;

  constructor(path: string, { append = true, fsync = false }: RunLogOptions = {}) {
    this.path = path;
    this.fsync = fsync;
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, append ? 'a' : 'w');
  }

  /** Writes one record as one line. NaN and Infinity become null, as JSON has neither. */
  write(record: T): void {
    if (this.fd === undefined) throw new Error(`RunLog: ${this.path} is closed`);
    writeSync(this.fd, JSON.stringify(record) + '\n');
    if (this.fsync) fsyncSync(this.fd);
  }

  /** Closes the file; calling it again does nothing. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Reads every record of a JSON-lines file. A last line cut short (a crash in
 * the middle of a write) is left out; a bad line anywhere else is an error
 * naming the file and the line.
 */
export function readRunLog<T = Record<string, unknown>>(path: string): T[] {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const records: T[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      records.push(JSON.parse(line) as T);
    } catch (error) {
      // only the final line can lack its newline, and only a torn write leaves it so
      const torn = i === lines.length - 1;
      if (!torn) throw new Error(`${path}:${i + 1}: not a JSON record (${(error as Error).message})`);
    }
  });
  return records;
}
