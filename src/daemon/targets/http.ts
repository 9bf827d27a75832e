// The `http` kind: one request (method + URL); a 2xx answer is success.
// Connection refused (the service restarting) is retried with backoff until
// the timeout; every other failure is reported at once.
import type { IncomingMessage } from 'node:http';
import type { HttpTargetDef } from '../config.js';
import { remaining, type TargetDriver, type TargetStep } from './driver.js';
import { sleep } from '../../shared/abort.js';

const BODY_CAP = 4096;
const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EAI_AGAIN']);

interface Reply {
  status: number;
  body: string;
}

async function once(url: URL, method: string, timeoutMs: number, signal: AbortSignal): Promise<Reply> {
  // Loaded on first use: node:http/https (and tls) cost daemon start-up time otherwise.
  const send = url.protocol === 'https:' ? (await import('node:https')).request : (await import('node:http')).request;
  return new Promise<Reply>((resolve, reject) => {
    const req = send(url, { method, signal, timeout: timeoutMs, headers: { 'user-agent': 'reloadkit', 'content-length': 0 } });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < BODY_CAP) chunks.push(c);
        size += c.length;
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, BODY_CAP).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.end();
  });
}

/** The URL without credentials, for messages. */
function shown(url: URL): string {
  const u = new URL(url.href);
  u.username = '';
  u.password = '';
  return u.href;
}

export function httpDriver(def: Pick<HttpTargetDef, 'url' | 'method'>): TargetDriver {
  const url = new URL(def.url);
  const label = `${def.method} ${shown(url)}`;
  return {
    hasCheck: false,
    async check() {},
    async apply(step: TargetStep) {
      const deadline = performance.now() + step.timeoutMs;
      let delay = 50;
      let attempts = 0;
      for (;;) {
        attempts += 1;
        let reply: Reply;
        try {
          reply = await once(url, def.method, remaining(deadline), step.signal);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          if (step.signal.aborted) throw new Error(`${label}: stopped (${e.message})`, { cause: err });
          if (e.code !== undefined && RETRYABLE.has(e.code) && remaining(deadline) > delay) {
            step.logger.debug({ target: step.name, attempt: attempts, code: e.code, retry_in_ms: delay }, 'http target not reachable; retrying');
            await sleep(delay, step.signal);
            delay = Math.min(delay * 2, 1000);
            continue;
          }
          const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
          throw new Error(`${label} failed${tries}: ${e.code ? `${e.code}: ` : ''}${e.message}`, { cause: err });
        }
        if (reply.status >= 200 && reply.status < 300) return;
        const body = reply.body.trim().replace(/\s+/g, ' ').slice(0, 500);
        throw new Error(`${label} answered ${reply.status}${body ? `: ${body}` : ''}`);
      }
    },
  };
}
