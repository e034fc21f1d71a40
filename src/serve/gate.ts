/**
 * A bounded queue for expensive work: at most `concurrency` jobs run at once,
 * at most `maxWaiting` wait for a turn, and anything beyond is refused at
 * once, so a flood of requests costs the server a short answer each instead
 * of a growing pile of pending work.
 */
export class Gate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly concurrency: number,
    readonly maxWaiting: number,
  ) {}

  /** Jobs running now, and jobs waiting for a turn. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /**
   * Runs `job` when a turn comes, or returns null at once when the queue is
   * full. A job whose `signal` is aborted before its turn is skipped (it
   * rejects with the signal's reason) and gives its place to the next.
   */
  run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> | null {
    if (this.running >= this.concurrency && this.waiting.length >= this.maxWaiting) return null;
    return this.turn(signal).then(async () => {
      try {
        return await job();
      } finally {
        this.release();
      }
    });
  }

  private turn(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.running < this.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const start = () => {
        signal?.removeEventListener('abort', leave);
        this.running++;
        resolve();
      };
      const leave = () => {
        this.waiting.splice(this.waiting.indexOf(start), 1);
        reject(signal!.reason);
      };
      this.waiting.push(start);
      signal?.addEventListener('abort', leave, { once: true });
    });
  }

  private release(): void {
    this.running--;
    this.waiting.shift()?.();
  }
}
