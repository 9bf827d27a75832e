// GET /events: the status page's live feed, as Server-Sent Events.
//
// Each client gets the current snapshots when it connects (`event: status`,
// and any pushed kind a host adds, such as `event: fleet`), then every pass
// as it ends (`event: pass`, the ReloadResult), fresh status snapshots soon
// after passes and on a heartbeat, and a pushed kind whenever its host says
// it changed (at most every 250 ms, and only when its JSON differs). A
// client that reconnects gets the current state again, never a replay of
// what it missed.
//
// Bounded on both axes: at most `maxClients` streams (the excess is refused
// with 503), and at most `maxBufferBytes` queued for one client. A client
// that stops reading (a frozen tab, a stuck proxy) is dropped when its queue
// is full, so it can neither grow the process's memory nor slow the others.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../shared/types.js';
import { errorReply } from './protocol.js';

export const DEFAULT_MAX_EVENT_CLIENTS = 256;
export const DEFAULT_EVENT_BUFFER_BYTES = 128 * 1024;
/** Fresh snapshots at least this often while anyone listens (also keeps proxies from closing idle streams). */
const DEFAULT_HEARTBEAT_MS = 10_000;
/** Snapshots after passes are coalesced: at most one per this interval (the passes themselves go out at once). */
const SNAPSHOT_COALESCE_MS = 500;
/** How long a browser waits before reconnecting a dropped stream (the `retry:` field). */
const RETRY = Buffer.from('retry: 2000\n\n');

/** A pushed kind is sent at most this often (its latest value wins). */
const PUSH_THROTTLE_MS = 250;

/**
 * One kind of snapshot (the unit status). `read()` returns undefined when
 * there is nothing of that kind: no event is sent then, and the page
 * renders nothing for it.
 */
interface SnapshotSource {
  event: string;
  read(): unknown;
}

/**
 * A kind whose host tells when it changed (a fleet's status, fed by etcd
 * watches). Subscribed only while someone listens; a host that never calls
 * `push` (no fleet) sends no event of that kind at all.
 */
interface PushedSource {
  event: string;
  subscribe(push: (data: unknown) => void): () => void;
}

interface Pushed {
  source: PushedSource;
  off: (() => void) | null;
  /** The JSON every client has (sent to a client that connects), and the newest one from the host. */
  sent: string | null;
  latest: string | null;
  sentAt: number;
  timer: NodeJS.Timeout | null;
}

export interface EventStreamOptions {
  maxClients: number;
  maxBufferBytes: number;
  heartbeatMs?: number;
  snapshots: readonly SnapshotSource[];
  pushed?: readonly PushedSource[];
  logger: Logger;
}

interface Client {
  res: ServerResponse;
  remote: string;
}

/** Encodes one SSE event. JSON has no raw newlines, so `data` is one line. */
function sseEvent(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class EventStream {
  private readonly clients = new Set<Client>();
  private readonly opts: EventStreamOptions;
  /** Encoded once and written as the same bytes to every client (no copy per client). */
  private snapshotBytes: Buffer | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private closed = false;
  private dropped = 0;
  private refused = 0;
  private readonly pushed: Pushed[];

  constructor(opts: EventStreamOptions) {
    this.opts = opts;
    this.pushed = (opts.pushed ?? []).map((source) => ({ source, off: null, sent: null, latest: null, sentAt: 0, timer: null }));
  }

  /** Streams open right now. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Clients dropped because they did not read, and connections refused at the limit, since start. */
  get counts(): { dropped: number; refused: number } {
    return { dropped: this.dropped, refused: this.refused };
  }

  /** Serves one GET /events request. */
  accept(req: IncomingMessage, res: ServerResponse): void {
    if (this.closed || this.clients.size >= this.opts.maxClients) {
      this.refused += 1;
      const body = `${JSON.stringify(errorReply(this.closed ? 'shutting down' : `too many event clients (at most ${this.opts.maxClients})`))}\n`;
      res.writeHead(503, {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        'retry-after': '5',
        'content-length': String(Buffer.byteLength(body)),
      });
      res.end(body);
      return;
    }
    const client: Client = { res, remote: req.socket.remoteAddress ?? '' };
    this.clients.add(client);
    res.on('close', () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stopHeartbeat();
    });
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // Reverse proxies (nginx) must pass events through as they come.
      'x-accel-buffering': 'no',
    });
    // The socket stays open for as long as the client listens: no Nagle delay on small events.
    req.socket.setNoDelay(true);
    this.send(client, RETRY);
    this.send(client, this.snapshots());
    for (const p of this.pushed) if (p.sent !== null) this.send(client, Buffer.from(`event: ${p.source.event}\ndata: ${p.sent}\n\n`));
    this.startHeartbeat();
    for (const p of this.pushed) this.subscribe(p);
  }

  private subscribe(p: Pushed): void {
    if (p.off || this.closed) return;
    p.off = p.source.subscribe((data) => this.onPush(p, data));
  }

  /** Nobody listens any more: stop the host's pushes, and forget the value (it would be stale at the next connect). */
  private unsubscribe(p: Pushed): void {
    p.off?.();
    p.off = null;
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    p.sent = p.latest = null;
  }

  private onPush(p: Pushed, data: unknown): void {
    if (this.closed || !p.off) return;
    const json = JSON.stringify(data);
    p.latest = json;
    if (json === p.sent || p.timer) return;
    const wait = p.sentAt + PUSH_THROTTLE_MS - Date.now();
    if (wait <= 0) return this.flushPush(p);
    p.timer = setTimeout(() => {
      p.timer = null;
      this.flushPush(p);
    }, wait);
    p.timer.unref();
  }

  private flushPush(p: Pushed): void {
    if (this.closed || p.latest === null || p.latest === p.sent) return;
    p.sent = p.latest;
    p.sentAt = Date.now();
    const bytes = Buffer.from(`event: ${p.source.event}\ndata: ${p.sent}\n\n`);
    for (const c of this.clients) this.send(c, bytes);
  }

  /** Sends one event to every client, then refreshes the snapshots shortly after. */
  publish(event: string, data: unknown): void {
    this.snapshotBytes = null;
    if (this.clients.size === 0) return;
    const bytes = Buffer.from(sseEvent(event, data));
    for (const c of this.clients) this.send(c, bytes);
    this.scheduleSnapshots();
  }

  /** Ends every stream and refuses new ones (the server is closing). */
  close(): void {
    this.closed = true;
    this.stopHeartbeat();
    for (const p of this.pushed) this.unsubscribe(p);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  /** The current snapshots as SSE, computed once and shared by every client until something changes. */
  private snapshots(): Buffer {
    if (this.snapshotBytes === null) {
      let text = '';
      for (const s of this.opts.snapshots) {
        const data = s.read();
        if (data !== undefined) text += sseEvent(s.event, data);
      }
      this.snapshotBytes = Buffer.from(text);
    }
    return this.snapshotBytes;
  }

  private broadcastSnapshots(): void {
    this.snapshotBytes = null;
    const bytes = this.snapshots();
    for (const c of this.clients) this.send(c, bytes);
  }

  private scheduleSnapshots(): void {
    if (this.snapshotTimer) return;
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = null;
      if (!this.closed) this.broadcastSnapshots();
    }, SNAPSHOT_COALESCE_MS);
    this.snapshotTimer.unref();
  }

  private startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => this.broadcastSnapshots(), this.opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** The last client left: no heartbeat, no pushes. */
  private stopHeartbeat(): void {
    for (const p of this.pushed) this.unsubscribe(p);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    this.snapshotTimer = null;
  }

  /**
   * Queues text for one client, or drops the client when what it has not
   * read yet already exceeds the limit (one event may go past it, so a large
   * snapshot still reaches a client that keeps up).
   */
  private send(c: Client, bytes: Buffer): void {
    if (c.res.destroyed) return;
    if (c.res.writableLength > this.opts.maxBufferBytes) {
      this.dropped += 1;
      this.clients.delete(c);
      this.opts.logger.warn(
        { remote: c.remote, queued_bytes: c.res.writableLength, limit_bytes: this.opts.maxBufferBytes },
        'event client dropped: it stopped reading',
      );
      c.res.destroy();
      return;
    }
    c.res.write(bytes);
  }
}
