// Options of the triggers around units (watch, admin socket, HTTP), shared by
// the library's createReloader and the daemon's wiring.

export interface WatchTriggerOptions {
  /** Quiet period that coalesces a burst of events (default 100 ms). */
  debounceMs?: number;
  /** Longest a pass waits under constant writes (default 1000 ms). */
  maxWaitMs?: number;
  /** Periodic full rescan (default 30 000 ms; 0 disables). */
  rescanMs?: number;
}

export interface SocketTriggerOptions {
  path: string;
  /** File mode of the socket (default 0o600), set before the socket is reachable. */
  mode?: number;
  /** Group (name or id) to own the socket, e.g. with mode 0o660. */
  group?: string | number;
  /** Concurrent connections served (default 1024); excess ones get an error reply. */
  maxConnections?: number;
}

export interface HttpTriggerOptions {
  /** `host:port`, e.g. `127.0.0.1:9111`. */
  address: string;
  /** Allow POST /reload (default false). */
  reload?: boolean;
  /** Bearer token POST /reload requires. */
  token?: string;
  /** Allow a non-loopback address (default false). */
  allowRemote?: boolean;
  /** Connections open at once (default 1024); at the limit the oldest idle one is closed to make room. */
  maxConnections?: number;
  /** Time a client has to send its request headers (default 5000 ms). */
  headersTimeoutMs?: number;
  /** Time a client has to send its whole request (default 10 000 ms). */
  requestTimeoutMs?: number;
  /** Status page event streams open at once (default 256); more are refused. */
  maxEventClients?: number;
}

/** A started trigger: stopped on close, and asked whether it still works. */
export interface TriggerHandle {
  readonly name: string;
  close(): Promise<void> | void;
  health?(): { ok: boolean; reason?: string };
}
