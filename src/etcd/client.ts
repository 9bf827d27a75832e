// The etcd client the fleet uses: the `etcd3` npm package (gRPC), loaded
// lazily so that a daemon without `fleet:` never pays for gRPC, wrapped so
// that every call has a deadline. Without one, a put stalled 7 s when the
// etcd leader was killed with `kill -9` (the member the client talks to
// waits for a leader that is gone); with a deadline the call fails after
// `timeout` and the caller retries, on another member if need be.
//
// Why etcd3: it is the maintained etcd v3 client on npm (leases with
// keepalive, watches that resume from the last revision after a reconnect,
// transactions, and lock/election helpers the rollout driver can use).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { errorMessage, EtcdError } from '../shared/errors.js';
import type { Etcd3, ICompare, IOptions, Lease, Watcher } from 'etcd3';

export interface EtcdConnectOptions {
  endpoints: readonly string[];
  /** Deadline of every call, in ms. */
  timeoutMs: number;
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  username?: string | undefined;
  /** The password is read from this file (trimmed); it is never logged. */
  passwordFile?: string | undefined;
}

export interface KeyValue {
  key: string;
  value: Buffer;
  /** etcd's mod_revision of the key. */
  modRevision: string;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  value: Buffer;
  /** etcd's revision of the change (for a delete: the revision of the delete). */
  modRevision: string;
}

export interface WatchHandle {
  close(): Promise<void>;
}

export interface LeaseHandle {
  readonly id: string;
  /** Puts `key` attached to the lease (it disappears when the lease expires). */
  put(key: string, value: string | Buffer): Promise<void>;
  /** Called once when the lease cannot be kept alive (its keys are gone or about to be). */
  onLost(fn: (err: Error) => void): void;
  /** Called when a renewal fails (false) or succeeds again (true): the liveness of the connection. */
  onRenewal(fn: (ok: boolean, err?: Error) => void): void;
  /** Revokes the lease (its keys are deleted at once). */
  revoke(): Promise<void>;
  /** Stops renewing without revoking (the keys live until the TTL passes). */
  release(): void;
}

/** One guard of a transaction: the key's mod_revision as it was read. */
export interface TxnCompare {
  key: string;
  /** mod_revision the key must have ("0" = the key must not exist). */
  modRevision: string;
}

export interface TxnPut {
  key: string;
  value: string | Buffer;
  /** Attach the key to this lease (it disappears when the lease expires). */
  lease?: string | undefined;
}

/** A guard over every key under a prefix: none was created or changed after revision `readAt` (a range read at that revision still holds). */
interface TxnPrefixGuard {
  prefix: string;
  readAt: string;
}

/** A guarded write: every compare must hold, then the puts and prefix deletes are applied atomically. */
export interface Txn {
  compares: readonly TxnCompare[];
  /** Prefixes whose keys must be as a range read saw them (a key deleted since is not noticed). */
  unchangedPrefixes?: readonly TxnPrefixGuard[] | undefined;
  puts: readonly TxnPut[];
  /** Every key under each prefix is deleted. */
  deletePrefixes?: readonly string[] | undefined;
}

/** The outcome of a transaction: whether the compares held, and etcd's revision after it (the mod_revision of what it wrote). */
export interface TxnResult {
  succeeded: boolean;
  revision: string;
}

type Etcd3Module = typeof import('etcd3'); // eslint-disable-line @typescript-eslint/consistent-type-imports -- the module's shape, loaded lazily
let etcd3Module: Promise<Etcd3Module> | null = null;

/** Loads the etcd3 client (and gRPC) once, on first use. */
function loadEtcd3(): Promise<Etcd3Module> {
  etcd3Module ??= import('etcd3').catch((err: unknown) => {
    etcd3Module = null;
    const missing = (err as NodeJS.ErrnoException | null)?.code === 'ERR_MODULE_NOT_FOUND';
    throw new EtcdError(
      missing
        ? 'fleet mode and etcdSource need the etcd3 package, which is not installed: run `npm i etcd3` beside reloadkit (`npm i -g etcd3` for a global reloadkit)'
        : `cannot load the etcd client (npm package etcd3): ${errorMessage(err)}`,
      { cause: err },
    );
  });
  return etcd3Module;
}

type CockatielModule = typeof import('cockatiel'); // eslint-disable-line @typescript-eslint/consistent-type-imports -- the module's shape, loaded from etcd3

/**
 * cockatiel, the fault-handling library etcd3 is built on, loaded from
 * etcd3's own package: the policies given to etcd3 then come from the copy
 * it uses, wherever npm put it. A global install (`npm i -g reloadkit
 * etcd3`) keeps it inside etcd3's folder, out of reach of a plain import.
 */
function cockatielOfEtcd3(): CockatielModule {
  const etcd3Main = createRequire(import.meta.url).resolve('etcd3');
  return createRequire(etcd3Main)('cockatiel') as CockatielModule;
}

async function readSecretFile(what: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new EtcdError(`${what} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`, { cause: err });
  }
}

/** The end of the key range holding every key that starts with `prefix` (as etcd's `--prefix`). */
function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i -= 1) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // every key
}

/** The reason in one line, without gRPC's noise. */
function etcdReason(err: unknown): string {
  const text = errorMessage(err)
    .replace(/^\d+ [A-Z_]+: /, '')
    .replace(/No connection established\. Last error: (Error: )?/, '')
    .replace(/\.? ?Resolution note:.*$/, '')
    .split('\n')[0]!
    .trim();
  if (/deadline exceeded/i.test(text)) return 'timed out';
  // cockatiel's circuit breaker (etcd3's per-member policy) after repeated failures.
  if (/circuit breaker is open/i.test(text)) return 'unreachable (repeated failures; retrying shortly)';
  if (/No connection established|ECONNREFUSED|connect ECONNREFUSED|Failed to connect|UNAVAILABLE|unavailable/i.test(text)) return `unreachable (${text})`;
  return text;
}

/**
 * A connection to etcd. Every unary call has the deadline `timeoutMs`
 * (gRPC's own deadline, and a timer of our own as a backstop); watches and
 * lease keepalives are streams and reconnect with backoff by themselves.
 */
export class EtcdStore {
  private constructor(
    private readonly client: Etcd3,
    readonly endpoints: readonly string[],
    readonly timeoutMs: number,
  ) {}

  static async connect(o: EtcdConnectOptions): Promise<EtcdStore> {
    if (o.endpoints.length === 0) throw new EtcdError('no etcd endpoints given');
    const mod = await loadEtcd3();
    const { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry } = cockatielOfEtcd3();
    const options: IOptions = {
      hosts: [...o.endpoints],
      dialTimeout: o.timeoutMs,
      // Every unary call gets a deadline; streams (watch, keepalive) live on.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + o.timeoutMs }),
      faultHandling: {
        // One retry on another member, then the error goes to the caller (who has its own backoff).
        global: retry(handleWhen(mod.isRecoverableError), { maxAttempts: 1 }),
        host: () => circuitBreaker(handleWhen(mod.isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(3) }),
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2_000 }).next(),
      },
      grpcOptions: {
        // Notice a dead connection within seconds, not the OS's minutes (etcd refuses pings more often than every 5 s).
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': Math.max(1_000, o.timeoutMs),
        // Only while calls or streams are open: etcd refuses pings on an idle connection.
        'grpc.keepalive_permit_without_calls': 0,
        // gRPC waits up to 2 minutes between reconnects by default; etcd coming back is noticed within 2 s.
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': 2_000,
      },
    };
    if (o.caFile !== undefined || o.certFile !== undefined || o.keyFile !== undefined) {
      if (o.caFile === undefined) throw new EtcdError('etcd TLS needs ca_file (cert_file and key_file are for client certificates)');
      if ((o.certFile === undefined) !== (o.keyFile === undefined)) throw new EtcdError('etcd TLS: cert_file and key_file go together');
      options.credentials = {
        rootCertificate: await readSecretFile('etcd ca_file', o.caFile),
        ...(o.certFile === undefined ? {} : { certChain: await readSecretFile('etcd cert_file', o.certFile) }),
        ...(o.keyFile === undefined ? {} : { privateKey: await readSecretFile('etcd key_file', o.keyFile) }),
      };
    }
    if (o.username !== undefined) {
      if (o.passwordFile === undefined) throw new EtcdError('etcd username needs password_file');
      const password = (await readSecretFile('etcd password_file', o.passwordFile)).toString('utf8').trim();
      options.auth = { username: o.username, password, callOptions: () => ({ deadline: Date.now() + o.timeoutMs }) };
    }
    return new EtcdStore(new mod.Etcd3(options), o.endpoints, o.timeoutMs);
  }

  /** `work` with our own deadline on top of gRPC's, and errors that name the endpoints. */
  private async call<T>(what: string, work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('deadline exceeded')), this.timeoutMs + 500);
    });
    try {
      return await Promise.race([work(), deadline]);
    } catch (err) {
      if (err instanceof EtcdError) throw err;
      throw new EtcdError(`etcd (${this.endpoints.join(',')}): ${what}: ${etcdReason(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async get(key: string): Promise<KeyValue | null> {
    return this.call(`get ${key}`, async () => {
      const res = await this.client.get(key).exec();
      const kv = res.kvs[0];
      return kv ? { key, value: kv.value, modRevision: kv.mod_revision } : null;
    });
  }

  /** Every key under `prefix`, sorted by key. */
  async getPrefix(prefix: string): Promise<KeyValue[]> {
    return (await this.rangePrefix(prefix)).kvs;
  }

  /** Every key under `prefix`, sorted by key, and etcd's revision the read saw. */
  async rangePrefix(prefix: string): Promise<{ kvs: KeyValue[]; revision: string }> {
    return this.call(`get ${prefix}*`, async () => {
      const res = await this.client.getAll().prefix(prefix).sort('Key', 'Ascend').exec();
      return { kvs: res.kvs.map((kv) => ({ key: kv.key.toString('utf8'), value: kv.value, modRevision: kv.mod_revision })), revision: res.header.revision };
    });
  }

  async put(key: string, value: string | Buffer): Promise<void> {
    await this.call(`put ${key}`, () => this.client.put(key).value(value).exec());
  }

  async delete(key: string): Promise<void> {
    await this.call(`delete ${key}`, () => this.client.delete().key(key).exec());
  }

  /** Applies the writes atomically when every compare holds; `succeeded` is false when one did not (someone else wrote first). */
  async txn(t: Txn): Promise<TxnResult> {
    return this.call('transaction', async () => {
      if (t.compares.length === 0) throw new EtcdError('a transaction needs at least one compare');
      const compare: ICompare[] = t.compares.map((c) => ({ key: Buffer.from(c.key), target: 'Mod', result: 'Equal', mod_revision: c.modRevision }));
      // A compare over a key range holds when it holds for every key in the range (and, for an empty range, for an absent key).
      for (const g of t.unchangedPrefixes ?? [])
        compare.push({
          key: Buffer.from(g.prefix),
          range_end: prefixEnd(g.prefix),
          target: 'Mod',
          result: 'Less',
          mod_revision: String(BigInt(g.readAt) + 1n),
        });
      const ops = [
        ...t.puts.map((p) => (p.lease === undefined ? this.client.put(p.key).value(p.value) : this.client.put(p.key).value(p.value).lease(p.lease))),
        ...(t.deletePrefixes ?? []).map((prefix) => this.client.delete().prefix(prefix)),
      ];
      const res = await this.client.kv.txn({ compare, success: await Promise.all(ops.map((o) => o.op())), failure: [] });
      return { succeeded: res.succeeded, revision: res.header.revision };
    });
  }

  /**
   * Watches every key under `prefix`. After a reconnect the watch resumes
   * where it stopped (no event is lost while the stream was down).
   * `onState` reports the stream going down and coming back.
   */
  async watchPrefix(prefix: string, onEvent: (e: WatchEvent) => void, onState: (connected: boolean, err?: Error) => void): Promise<WatchHandle> {
    return this.watch(prefix, true, onEvent, onState);
  }

  /** Watches one key (same reconnect behaviour as watchPrefix). */
  async watchKey(key: string, onEvent: (e: WatchEvent) => void, onState: (connected: boolean, err?: Error) => void): Promise<WatchHandle> {
    return this.watch(key, false, onEvent, onState);
  }

  private async watch(
    key: string,
    prefix: boolean,
    onEvent: (e: WatchEvent) => void,
    onState: (connected: boolean, err?: Error) => void,
  ): Promise<WatchHandle> {
    const b = this.client.watch();
    const w: Watcher = await this.call(`watch ${key}${prefix ? '*' : ''}`, () => (prefix ? b.prefix(key) : b.key(key)).create());
    w.on('put', (kv) => onEvent({ type: 'put', key: kv.key.toString('utf8'), value: kv.value, modRevision: kv.mod_revision }));
    w.on('delete', (kv) => onEvent({ type: 'delete', key: kv.key.toString('utf8'), value: kv.value, modRevision: kv.mod_revision }));
    w.on('disconnected', (err: Error) => onState(false, err));
    w.on('connected', () => onState(true));
    w.on('error', (err: Error) => onState(false, err));
    return { close: () => w.cancel().catch(() => {}) };
  }

  /** Grants a lease of `ttlSeconds`, kept alive until revoked, released or lost. */
  async lease(ttlSeconds: number): Promise<LeaseHandle> {
    const lease: Lease = this.client.lease(ttlSeconds, { autoKeepAlive: true });
    const id = await this.call('lease grant', () => lease.grant());
    const lost: ((err: Error) => void)[] = [];
    const renewal: ((ok: boolean, err?: Error) => void)[] = [];
    // Typed as a response in etcd3's declarations; the library emits the gRPC error.
    lease.on('keepaliveFailed', (err) => renewal.forEach((fn) => fn(false, err as unknown as Error)));
    lease.on('keepaliveSucceeded', () => renewal.forEach((fn) => fn(true)));
    let fired = false;
    lease.on('lost', (err: Error) => {
      if (fired) return;
      fired = true;
      for (const fn of lost) fn(err);
    });
    return {
      id,
      put: async (key, value) => {
        await this.call(`put ${key}`, () => lease.put(key).value(value).exec());
      },
      onLost: (fn) => lost.push(fn),
      onRenewal: (fn) => renewal.push(fn),
      revoke: () => this.call('lease revoke', () => lease.revoke()).catch(() => {}),
      release: () => lease.release(),
    };
  }

  close(): void {
    this.client.close();
  }
}
