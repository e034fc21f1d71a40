/**
 * How much memory a checkpoint may make the loader spend, tied to the size of
 * the file, so a few hostile bytes cannot ask for gigabytes: every byte the
 * loader reads out of the file or would hold as tensor data is charged here
 * before it is allocated, and a load that would go over is refused.
 */

const MiB = 1024 * 1024;

/**
 * The default limit for a file of `fileSize` bytes. An ordinary checkpoint
 * costs about twice its size (its storages, read once, plus its tensors,
 * counted as the storage bytes each spans, which the addon copies; its pickle
 * is small); the factor 4 leaves room for overlapping views of one storage,
 * and the 16 MiB for small files holding a few hundred thousand plain Python
 * objects.
 */
export function defaultLoadLimit(fileSize: number): number {
  return 4 * fileSize + 16 * MiB;
}

/** A running count of bytes materialised by one load, refused beyond `limit`. */
export class ByteBudget {
  /** Bytes charged so far. */
  used = 0;

  constructor(readonly limit: number) {}

  /** Charges `bytes` for `what` (named in the error), or throws if that would exceed the limit. */
  charge(bytes: number, what: string): void {
    if (!(bytes >= 0) || this.used + bytes > this.limit) {
      throw new Error(
        `${what} needs ${bytes} bytes, beyond the loader's budget of ${this.limit} bytes for this file ` +
          `(${this.used} already used); a checkpoint cannot describe more data than it holds`,
      );
    }
    this.used += bytes;
  }
}
