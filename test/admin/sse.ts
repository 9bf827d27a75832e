// A Server-Sent Events client for tests: connects to /events with node:http,
// parses the stream as it comes, and waits on what arrived (no sleeps).
import { get, type IncomingMessage } from 'node:http';
import { waitFor } from '../integration/helpers.js';

export interface SseEvent {
  event: string;
  data: unknown;
  /** When it was parsed (performance.now()). */
  at: number;
}

export interface SseClient {
  status: number;
  headers: IncomingMessage['headers'];
  events: SseEvent[];
  /** Raw text of a refused (non-200) response. */
  body: string;
  /** Waits for an event (from index `from`) matching `pred`. */
  next(pred: (e: SseEvent) => boolean, what: string, from?: number, timeoutMs?: number): Promise<SseEvent>;
  closed: Promise<void>;
  close(): void;
}

export function openEvents(url: string): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false }, (res) => {
      res.setEncoding('utf8');
      const events: SseEvent[] = [];
      let buf = '';
      let body = '';
      let ended = false;
      const closed = new Promise<void>((r) => res.once('close', () => ((ended = true), r())));
      res.on('data', (chunk: string) => {
        if (res.statusCode !== 200) {
          body += chunk;
          return;
        }
        buf += chunk;
        let end = buf.indexOf('\n\n');
        while (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data !== '') events.push({ event, data: JSON.parse(data) as unknown, at: performance.now() });
          end = buf.indexOf('\n\n');
        }
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        get body() {
          return body;
        },
        next: (pred, what, from = 0, timeoutMs = 20_000) =>
          waitFor(
            () => {
              const hit = events.slice(from).find(pred);
              if (!hit && ended) throw new Error(`stream closed while waiting for ${what}`);
              return hit;
            },
            what,
            timeoutMs,
          ),
        closed,
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}
