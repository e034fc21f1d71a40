/**
 * HTTP/1.1 requests written byte for byte on a raw socket: fetch() and
 * http.get() would normalise `..` and `%2e%2e` before they reach the server,
 * and keep connections alive, which would hold descriptors a test counts.
 */
import { connect } from 'node:net';

/** Sends `target` exactly as given, with `Connection: close`; resolves with the status and body. */
export function rawRequest(port: number, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const response = Buffer.concat(chunks);
      const split = response.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response.toString('latin1'))?.[1]);
      resolve({ status, body: response.subarray(split + 4) });
    });
    const all = { Host: `127.0.0.1:${port}`, Connection: 'close', ...headers };
    const lines = [`${method} ${target} HTTP/1.1`, ...Object.entries(all).map(([k, v]) => `${k}: ${v}`)];
    // write, not end: the server may drop a half-closed connection before it answers
    socket.write(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  });
}
