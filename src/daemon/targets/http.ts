// The `http` kind: one request (method + URL); a 2xx answer is success.
// Connection refused (the service restarting) is retried with backoff until
// the timeout; every other failure is reported at once.
import type { HttpTargetDef } from '../config.js';
import { remaining, type TargetDriver, type TargetStep } from './driver.js';
import { sleep } from '../../shared/abort.js';
import { httpRequest, type HttpReply } from '../../shared/http-request.js';

const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EAI_AGAIN']);

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
        let reply: HttpReply;
        try {
          reply = await httpRequest(url, { method: def.method, timeoutMs: remaining(deadline), signal: step.signal });
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
