/**
 * Turning the path of a request into a file under the served folder, or a
 * refusal. Requests are judged on the raw, still percent-encoded path (URL
 * parsers fold `..` and `%2e%2e` away, which would hide an attack rather
 * than refuse it): a `..` or `.` segment, an empty segment, an absolute path,
 * a backslash or a NUL byte is a bad request (400); a path that does not
 * exist, or that leaves the folder through a symbolic link, is not found (404).
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';

/** A file under the folder, or the status and reason of a refusal. */
export type Resolved = { ok: true; path: string } | { ok: false; status: 400 | 404; reason: string };

/**
 * Resolves `encoded` (a path relative to `root`, as it came in the request)
 * to the real path of an existing file or folder inside `root`.
 *
 * @param root the real path of the served folder (see `realpath`)
 */
export async function resolveInside(root: string, encoded: string): Promise<Resolved> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(encoded);
  } catch {
    return { ok: false, status: 400, reason: 'malformed percent-encoding' };
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return { ok: false, status: 400, reason: 'NUL or backslash in path' };
  if (decoded.startsWith('/') || isAbsolute(decoded) || /^[a-zA-Z]:/.test(decoded)) return { ok: false, status: 400, reason: 'absolute path' };
  const segments = decoded.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return { ok: false, status: 400, reason: 'empty, . or .. segment in path' };
  let real: string;
  try {
    real = await realpath(join(root, ...segments));
  } catch {
    return { ok: false, status: 404, reason: 'no such file' };
  }
  // a symbolic link may point anywhere; only what really lies inside is served
  if (real !== root && !real.startsWith(root + sep)) return { ok: false, status: 404, reason: 'outside the served folder' };
  return { ok: true, path: real };
}
