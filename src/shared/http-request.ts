// One HTTP(S) request on a connection of its own. Node's default agent keeps
// connections alive, so a second request could go out on a socket that a
// server closed meanwhile; nginx's old workers do exactly that after a reload
// ("other side closed"). A reload request or a health probe must reach the
// server as it is now: every call opens a new connection and closes it.
import type { IncomingMessage } from 'node:http';

export interface HttpReply {
  status: number;
  /** The body's first `bodyCap` bytes, as UTF-8. */
  body: string;
}

export interface HttpRequestOptions {
  method?: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Bytes of the body kept (the rest is read and dropped). Default 4096. */
  bodyCap?: number;
}

/** Sends one request; rejects on a connection error (with its `code`) or when no answer came within `timeoutMs` (ETIMEDOUT). */
export async function httpRequest(url: URL, o: HttpRequestOptions): Promise<HttpReply> {
  // Loaded on first use: node:http/https (and tls) cost start-up time otherwise.
  const send = url.protocol === 'https:' ? (await import('node:https')).request : (await import('node:http')).request;
  const cap = o.bodyCap ?? 4096;
  return new Promise<HttpReply>((resolve, reject) => {
    const req = send(url, {
      method: o.method ?? 'GET',
      agent: false,
      ...(o.signal === undefined ? {} : { signal: o.signal }),
      timeout: o.timeoutMs,
      headers: { 'user-agent': 'reloadkit', 'content-length': 0 },
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${o.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < cap) chunks.push(c);
        size += c.length;
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, cap).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.end();
  });
}
