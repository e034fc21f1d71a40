/** Errors of checkpoint reading and writing, always naming the file. */

/** A checkpoint file could not be read or written; `path` names it. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';

  constructor(
    readonly path: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`checkpoint ${path}: ${detail}`, options);
  }
}

/** Runs `action`, turning any error it throws into a CheckpointError for `path`. */
export async function inFile<T>(path: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new CheckpointError(path, detail, { cause: error });
  }
}
