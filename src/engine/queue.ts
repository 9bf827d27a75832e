// Serial coalescing queue: per unit at most one pass runs and at most one is
// pending. A request joins the pending pass if there is one, so every request
// is answered by the first pass that starts after it arrived.
import { ShutdownError } from '../shared/errors.js';
import type { Trigger } from '../shared/types.js';

export interface PassRequest {
  trigger: Trigger;
  /** Explicit requests (API, signal, socket, HTTP) always run a full pass. */
  explicit: boolean;
}

/** The requests one pass answers; the first one names the pass's trigger. */
export interface Batch {
  readonly requests: readonly PassRequest[];
}

interface Waiter<R> {
  resolve(result: R): void;
  reject(err: unknown): void;
}

interface Slot<R> {
  requests: PassRequest[];
  waiters: Waiter<R>[];
}

export type PassRunner<R> = (batch: Batch, signal: AbortSignal) => Promise<R>;

export class PassQueue<R> {
  private running: { slot: Slot<R>; controller: AbortController; done: Promise<void> } | null = null;
  private pending: Slot<R> | null = null;
  private closed = false;

  constructor(
    private readonly runner: PassRunner<R>,
    private readonly closedMessage: string,
  ) {}

  /** Queues a request; resolves with the result of the pass that answers it. */
  request(req: PassRequest): Promise<R> {
    if (this.closed) return Promise.reject(new ShutdownError(this.closedMessage));
    return new Promise<R>((resolve, reject) => {
      const waiter = { resolve, reject };
      if (this.running === null) {
        this.start({ requests: [req], waiters: [waiter] });
      } else if (this.pending === null) {
        this.pending = { requests: [req], waiters: [waiter] };
      } else {
        this.pending.requests.push(req);
        this.pending.waiters.push(waiter);
      }
    });
  }

  private start(slot: Slot<R>): void {
    const controller = new AbortController();
    const batch: Batch = { requests: slot.requests };
    const settle = (fn: (w: Waiter<R>) => void) => {
      for (const w of slot.waiters) fn(w);
    };
    const done = this.runner(batch, controller.signal).then(
      // The runner decides what an aborted pass means: one that committed anyway is
      // a real reload and resolves; one that did not rejects (with a ShutdownError).
      (result) => settle((w) => w.resolve(result)),
      (err: unknown) => settle((w) => w.reject(err)),
    );
    this.running = { slot, controller, done };
    void done.finally(() => {
      this.running = null;
      const next = this.pending;
      this.pending = null;
      if (next !== null && !this.closed) this.start(next);
    });
  }

  /**
   * Refuses new requests, answers pending waiters with a shutdown error,
   * aborts the running pass and waits for it to finish. Safe to call twice.
   */
  async close(): Promise<void> {
    this.closed = true;
    const pending = this.pending;
    this.pending = null;
    if (pending) for (const w of pending.waiters) w.reject(new ShutdownError());
    const running = this.running;
    if (running) {
      running.controller.abort(new ShutdownError());
      await running.done;
    }
  }
}
