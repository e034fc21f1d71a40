/**
 * A slide that OpenSlide cannot open (unreadable, truncated, not a format it
 * reads), or that lacks what was asked of it (a level, its mpp, RGB for the
 * model): a problem of the input, which the CLI reports with exit code 2.
 * In a module of its own, without the addon, so the loader's worker pool can
 * rebuild it from a worker's reply.
 */
export class SlideError extends Error {
  override name = 'SlideError';

  constructor(readonly path: string, message: string) {
    super(message);
  }
}
