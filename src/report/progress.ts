/**
 * A progress display for long work (epochs, prediction over many images).
 *
 * On a terminal it redraws one line in place, at most ~10 times a second so
 * that drawing never costs noticeable time: label, bar, count/total, rate and
 * time left. When the stream is not a terminal (a log file, CI, a pipe),
 * carriage returns would make a mess, so it writes a plain line every
 * `logEveryMs` instead, and one at the end.
 */

/** Where the progress goes: `process.stderr` or a test double. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  /** terminal width; 80 when unknown */
  columns?: number;
}

/** Options of `ProgressBar`; all optional. */
export interface ProgressOptions {
  /** items to do; undefined when unknown (no bar, no time left) */
  total?: number;
  /** shown first, e.g. `epoch 3/50` */
  label?: string;
  /** what is counted, for the rate; default `items` */
  unit?: string;
  /** default process.stderr */
  stream?: ProgressStream;
  /** milliseconds clock; default performance.now */
  now?: () => number;
  /** terminal redraw interval; default 100 ms */
  redrawMs?: number;
  /** interval of plain log lines when not a terminal; default 10 s */
  logEveryMs?: number;
}

const BAR_MAX = 30;
const BAR_MIN = 10;

/**
 * @example
 * const bar = new ProgressBar({ total: images.length, label: 'predict', unit: 'images' });
 * for (const image of images) { await predict(image); bar.tick(); }
 * bar.done();
 */
export class ProgressBar {
  private readonly total: number | undefined;
  private readonly label: string;
  private readonly unit: string;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly redrawMs: number;
  private readonly logEveryMs: number;
  private readonly tty: boolean;
  private readonly start: number;
  private count = 0;
  private status = '';
  private lastWrite = -Infinity;
  private finished = false;

  constructor(options: ProgressOptions = {}) {
    this.total = options.total;
    this.label = options.label ?? '';
    this.unit = options.unit ?? 'items';
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? (() => performance.now());
    this.redrawMs = options.redrawMs ?? 100;
    this.logEveryMs = options.logEveryMs ?? 10_000;
    this.tty = this.stream.isTTY === true;
    this.start = this.now();
    // a plain log starts counting its interval now, so the first line comes after logEveryMs
    if (!this.tty) this.lastWrite = this.start;
  }

  /** Counts `n` more items done. */
  tick(n = 1): void {
    this.update(this.count + n);
  }

  /** Sets the number of items done. */
  update(count: number): void {
    this.count = count;
    const now = this.now();
    const interval = this.tty ? this.redrawMs : this.logEveryMs;
    const complete = this.tty && this.total !== undefined && count >= this.total;
    if (now - this.lastWrite >= interval || complete) this.write(now);
  }

  /** Extra text shown after the rate, e.g. `loss 0.231`; shown at the next redraw. */
  setStatus(text: string): void {
    this.status = text;
  }

  /** Draws the final state and ends the line; later calls do nothing. */
  done(): void {
    if (this.finished) return;
    const now = this.now();
    if (this.tty) {
      this.write(now);
      this.stream.write('\n');
    } else {
      const elapsed = (now - this.start) / 1000;
      const rate = elapsed > 0 ? `, ${formatRate(this.count / elapsed)} ${this.unit}/s` : '';
      this.stream.write(`${this.prefix()}${this.counter()} ${this.unit} in ${formatDuration(elapsed)}${rate}${this.suffix()}\n`);
    }
    this.finished = true;
  }

  private write(now: number): void {
    if (this.finished) return;
    this.lastWrite = now;
    const elapsed = (now - this.start) / 1000;
    const rate = elapsed > 0 ? this.count / elapsed : undefined;
    const speed = rate === undefined ? `-- ${this.unit}/s` : `${formatRate(rate)} ${this.unit}/s`;
    const timeLeft =
      this.total === undefined ? [] : [rate ? `${formatDuration(Math.max(0, this.total - this.count) / rate)} left` : '--:-- left'];
    if (!this.tty) {
      const percent = this.total ? ` (${Math.floor((100 * this.count) / this.total)}%)` : '';
      this.stream.write(`${this.prefix()}${[this.counter() + percent, speed, ...timeLeft].join('  ')}${this.suffix()}\n`);
      return;
    }
    const text = [this.counter(), speed, ...timeLeft].join('  ') + this.suffix();
    const columns = this.stream.columns ?? 80;
    // the bar takes its width plus brackets and two spaces
    const room = columns - 1 - this.prefix().length - text.length - 4;
    const bar = this.total !== undefined && room >= BAR_MIN ? `${drawBar(this.count / this.total, Math.min(BAR_MAX, room))}  ` : '';
    // \r returns to the line start and \x1b[K clears what a longer previous line left behind;
    // the line is cut to the terminal width because a wrapped line cannot be redrawn in place
    this.stream.write(`\r${(this.prefix() + bar + text).slice(0, columns - 1)}\x1b[K`);
  }

  private prefix(): string {
    return this.label ? `${this.label}  ` : '';
  }

  private suffix(): string {
    return this.status ? `  ${this.status}` : '';
  }

  private counter(): string {
    return this.total === undefined ? String(this.count) : `${this.count}/${this.total}`;
  }
}

function drawBar(fraction: number, width: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** 3 significant digits: 0.123, 12.3, 123, 1234 */
function formatRate(rate: number): string {
  return rate >= 100 ? rate.toFixed(0) : rate.toPrecision(3);
}

/** m:ss, or h:mm:ss from an hour up */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const secs = String(s % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${secs}` : `${minutes}:${secs}`;
}
