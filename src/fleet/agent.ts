// The fleet agent of one daemon: registers the host (with a lease), keeps
// what it runs published, takes its turns in rollouts (a turn key the
// driver writes: apply that revision now, through the per-host apply step,
// then report the outcome), and campaigns to drive each target's rollouts
// (driver.ts) so that no single host is needed for a rollout to go on.
//
// The daemon hands it, per fleet-managed target, only what the apply step
// needs (a name, the directory, a way to run the target's pass, the health
// gate): the daemon's internals stay its own.
//
// etcd down: the host keeps serving what it has, `connected` is false,
// the session is retried with exponential backoff and jitter; on reconnect
// the host registers again (a new session) and the driver gives it a turn
// if it is not on the fleet's revision (convergence). A host never applies
// a revision without its turn.
import { readFile } from 'node:fs/promises';
import { createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { errorMessage, RolloutError } from '../shared/errors.js';
import type { Logger } from '../shared/types.js';
import { applyRevision, driftReason, fileRecordStore, findDrift, type ApplyOutcome, type FleetTargetBinding, type RecordStore } from './apply.js';
import { EtcdStore, type EtcdConnectOptions, type WatchEvent, type WatchHandle } from '../etcd/client.js';
import type { RolloutCommand, RolloutCommandOutcome } from '../shared/fleet-commands.js';
import { steerRollout } from './control.js';
import { driverKey, hostsPrefix, NAME_PATTERN, parseHostKey, parseTargetKey, rolloutKey, targetsPrefix, turnKey } from './keys.js';
import { noopFleetMetrics, type FleetMetricsSink } from './metrics.js';
import { TargetDriver } from './driver.js';
import { parseJson, type DesiredRecord, type HostRecord, type HostTargetState, type RolloutRecord, type TurnRecord } from './records.js';
import { HostRegistration } from './registry.js';
import { readRevision, verifyRevision } from './revisions.js';
import { KvCache, reportTxn, type Versioned } from './rollout.js';
import { readFleetStatus, type FleetStatus } from './status.js';

export interface FleetSettings {
  /** The fleet's name (the etcd prefix is `/reloadkit/<name>/`). */
  name: string;
  /** This host's name, unique in the fleet. */
  host: string;
  labels: Record<string, string>;
  etcd: EtcdConnectOptions & { leaseTtlMs: number };
}

export interface FleetAgentOptions {
  settings: FleetSettings;
  targets: readonly FleetTargetBinding[];
  /** Where the host records what it applied (`<state_dir>/fleet/<target>.json`). */
  stateDir: string;
  logger: Logger;
  /** reloadkit's version, published with the host. */
  version: string;
  records?: RecordStore;
}

/** The fleet in `reloadkit status`: this host's view, without asking etcd. */
export interface FleetSummary {
  fleet: string;
  host: string;
  connected: boolean;
  targets: Record<string, { revision: number; desired: number | null; status: HostTargetState['status']; reason?: string; driving: boolean }>;
}

const MAX_BACKOFF_MS = 10_000;
/** Status changes are coalesced: at most one status read per this interval for the change listeners. */
const STATUS_COALESCE_MS = 250;
/** A target's step timeout when the daemon does not say (check, reload, verify each). */
const DEFAULT_STEP_TIMEOUT_MS = 30_000;

/** The step of a failed turn as a rollout reports it: the pass is split into check (validation) and reload (reload, verify). */
function rolloutStep(o: Exclude<ApplyOutcome, { status: 'done' }>): string {
  if (o.status === 'drift') return 'drift';
  if (o.step !== 'pass') return o.step;
  return /^(validation_failed|load_failed)\b/.test(o.reason) ? 'check' : 'reload';
}

export class FleetAgent {
  private readonly s: FleetSettings;
  private readonly logger: Logger;
  private readonly records: RecordStore;
  private readonly bindings = new Map<string, FleetTargetBinding>();
  private readonly states = new Map<string, HostTargetState>();
  private readonly desired = new Map<string, DesiredRecord>();
  private readonly queues = new Map<string, Promise<void>>();
  /** What this host knows of `hosts/` and `targets/` (from its watches), which its drivers decide on. */
  private readonly cache = new KvCache();
  private readonly drivers = new Map<string, TargetDriver>();
  /** Turns taken in this process (a watch event seen twice never applies twice). */
  private readonly takenTurns = new Set<string>();
  /** A new random id each time the host registers: turns are for one session. */
  private sessionId = '';
  /** Each change listener with the JSON it was last called with (called again only when it differs). */
  private readonly statusListeners = new Map<(s: FleetStatus) => void, string>();
  private statusTimer: NodeJS.Timeout | null = null;
  /** A status read for the listeners is in flight; a change meanwhile reads again after it (reads never overlap). */
  private statusReading = false;
  private statusDirty = false;
  private readonly seenHosts = new Set<string>();
  private readonly lostHosts = new Set<string>();
  private readonly startedAt = new Date().toISOString();
  private readonly stopping = new AbortController();
  private store: EtcdStore | null = null;
  private registration: HostRegistration | null = null;
  private watches: WatchHandle[] = [];
  private connectedNow = false;
  /** Set once a session registered, watched and caught up: renewals and watch events may then flip `connected`. */
  private sessionReady = false;
  private endSession: ((err: Error) => void) | null = null;
  private loop: Promise<void> | null = null;
  private lastError = '';
  private metricsSink: FleetMetricsSink = noopFleetMetrics;
  private readonly version: string;

  constructor(o: FleetAgentOptions) {
    this.s = o.settings;
    this.logger = o.logger;
    this.version = o.version;
    this.records = o.records ?? fileRecordStore(o.stateDir);
    for (const t of o.targets) this.bindings.set(t.name, t);
  }

  get name(): string {
    return this.s.name;
  }

  get connected(): boolean {
    return this.connectedNow;
  }

  /** Metrics arrive after the agent exists (the daemon creates them with HTTP). */
  set metrics(sink: FleetMetricsSink) {
    this.metricsSink = sink;
    sink.connected(this.connectedNow);
    for (const [t, st] of this.states) sink.revision(t, st.revision);
  }

  /** Reads what each target last applied, then connects in the background (etcd down never holds the daemon up). */
  async start(): Promise<void> {
    for (const [name, b] of this.bindings) {
      const rec = await this.records.read(name);
      this.states.set(name, {
        revision: rec?.revision ?? 0,
        status: rec && rec.revision > 0 ? 'done' : 'idle',
        config_hash: b.configHash(),
        at: rec?.applied_at || this.startedAt,
        turn_timeout_ms: turnTimeoutMs(b),
      });
    }
    this.loop = this.run();
  }

  // ---- connection -----------------------------------------------------------

  private setConnected(up: boolean, err?: unknown): void {
    if (up === this.connectedNow) return;
    this.connectedNow = up;
    this.metricsSink.connected(up);
    this.statusChanged();
    if (up) {
      this.lastError = '';
      this.logger.info({ fleet: this.s.name, host: this.s.host, endpoints: this.s.etcd.endpoints }, 'fleet: connected to etcd');
    } else {
      this.registration?.invalidate();
      this.logger.warn(
        { fleet: this.s.name, endpoints: this.s.etcd.endpoints, err: err === undefined ? undefined : errorMessage(err) },
        'fleet: etcd unreachable; serving the current files and retrying',
      );
    }
  }

  private async run(): Promise<void> {
    for (let attempt = 0; !this.stopping.signal.aborted; attempt += 1) {
      try {
        await this.session();
      } catch (err) {
        // A session that was up starts the backoff over; failed attempts in a row grow it.
        if (this.sessionReady) attempt = 0;
        const msg = errorMessage(err);
        if (msg !== this.lastError && !this.stopping.signal.aborted) this.logger.warn({ fleet: this.s.name, err: msg }, 'fleet: etcd session ended');
        this.lastError = msg;
      }
      this.setConnected(false);
      await this.teardown();
      if (this.stopping.signal.aborted) break;
      // Exponential backoff with full jitter: many hosts do not return all at once.
      const cap = Math.min(MAX_BACKOFF_MS, 200 * 2 ** Math.min(attempt, 10));
      await this.sleep(cap / 2 + Math.random() * (cap / 2));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const signal = this.stopping.signal;
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** One session: the watches, a lease, the host record, the drivers; ends when the lease is lost (or on close). */
  private async session(): Promise<void> {
    this.store ??= await EtcdStore.connect(this.s.etcd);
    const store = this.store;
    const ended = new Promise<Error>((resolve) => (this.endSession = resolve));
    // A new session id before anyone can give this host a turn: turns of an earlier session are never taken up.
    this.sessionId = randomUUID();
    // Watches first, so no turn written after the record appears can be missed.
    this.watches.push(
      await store.watchPrefix(
        targetsPrefix(this.s.name),
        (e) => this.onTargetEvent(e),
        (up, err) => (up ? this.onUp() : this.setConnected(false, err)),
      ),
      await store.watchPrefix(
        hostsPrefix(this.s.name),
        (e) => this.onHostEvent(e),
        () => {},
      ),
    );
    for (const t of this.bindings.keys()) {
      this.watches.push(
        await store.watchKey(
          turnKey(this.s.name, t, this.s.host),
          (e) => this.onTurnEvent(t, e),
          () => {},
        ),
      );
    }
    const reg = new HostRegistration(store, this.s.name, this.s.host, Math.max(1, Math.round(this.s.etcd.leaseTtlMs / 1000)), this.logger);
    this.registration = reg;
    await reg.register(this.record(), {
      onRenewal: (ok, err) => (ok ? this.onUp() : this.setConnected(false, err)),
      onLost: (err) => this.endSession?.(err),
    });
    if (this.stopping.signal.aborted) return;
    for (const t of this.bindings.keys()) {
      this.drivers.set(
        t,
        new TargetDriver({
          store,
          cache: this.cache,
          fleet: this.s.name,
          target: t,
          host: this.s.host,
          session: this.sessionId,
          lease: reg.leaseId!,
          logger: this.logger,
          metrics: () => this.metricsSink,
        }),
      );
    }
    this.setConnected(true);
    await this.resync();
    this.sessionReady = true;
    throw await ended;
  }

  // ---- what the watches see -----------------------------------------------------

  private onTargetEvent(e: WatchEvent): void {
    this.cache.apply(e.key, e.type === 'put' ? e.value : null, e.modRevision);
    const k = parseTargetKey(this.s.name, e.key);
    if (!k || !this.bindings.has(k.target)) return;
    if (k.kind === 'desired' && e.type === 'put') {
      const d = parseJson<DesiredRecord>(e);
      if (d) this.desired.set(k.target, d);
    } else if (k.kind === 'rollout') {
      this.metricsSink.rolloutState(k.target, e.type === 'put' ? parseJson<RolloutRecord>(e) : null);
    }
    const d = this.drivers.get(k.target);
    if (k.kind === 'driver' && e.type === 'delete') this.campaign(k.target);
    else d?.kick();
    this.statusChanged();
  }

  private onHostEvent(e: WatchEvent): void {
    this.cache.apply(e.key, e.type === 'put' ? e.value : null, e.modRevision);
    const h = parseHostKey(this.s.name, e.key);
    if (h === null) return;
    if (e.type === 'put') {
      this.seenHosts.add(h);
      this.lostHosts.delete(h);
    } else {
      this.seenHosts.delete(h);
      this.lostHosts.add(h);
    }
    this.metricsSink.hosts(this.seenHosts.size, this.lostHosts.size);
    for (const d of this.drivers.values()) d.kick();
    this.statusChanged();
  }

  /** Campaigns to drive `target` (the driver key is gone, or a new session); retried while etcd does not answer. */
  private campaign(target: string): void {
    const d = this.drivers.get(target);
    if (!d || this.stopping.signal.aborted) return;
    d.campaign().catch((err: unknown) => {
      this.logger.debug({ unit: target, err: errorMessage(err) }, 'fleet: campaign to drive failed; retrying');
      setTimeout(() => {
        if (this.drivers.get(target) === d && !this.cache.json(driverKey(this.s.name, target))) this.campaign(target);
      }, 500).unref();
    });
  }

  /** A renewal or watch came back after a failure: publish again and catch up. */
  private onUp(): void {
    if (this.connectedNow || this.stopping.signal.aborted || !this.sessionReady) return;
    this.setConnected(true);
    void this.resync().catch((err: unknown) => this.setConnected(false, err));
  }

  /** Publishes the record again, reads the targets' records and the host list, campaigns where no host drives. */
  private async resync(): Promise<void> {
    const store = this.store!;
    this.registration?.invalidate();
    await this.registration?.publish(this.record());
    for (const prefix of [targetsPrefix(this.s.name), hostsPrefix(this.s.name)]) {
      const r = await store.rangePrefix(prefix);
      this.cache.applyRange(prefix, r.kvs, r.revision);
    }
    for (const t of this.bindings.keys()) {
      const d = this.cache.json<DesiredRecord>(`${targetsPrefix(this.s.name)}${t}/desired`);
      if (d) this.desired.set(t, d.value);
      this.metricsSink.rolloutState(t, this.cache.json<RolloutRecord>(`${targetsPrefix(this.s.name)}${t}/rollout`)?.value ?? null);
      if (!this.cache.json(driverKey(this.s.name, t))) this.campaign(t);
      else this.drivers.get(t)?.kick();
    }
    const alive = new Set<string>();
    for (const [key] of this.cache.jsonUnder<HostRecord>(hostsPrefix(this.s.name))) {
      const h = parseHostKey(this.s.name, key);
      if (h !== null) alive.add(h);
    }
    for (const h of this.seenHosts) if (!alive.has(h)) this.lostHosts.add(h);
    this.seenHosts.clear();
    for (const h of alive) {
      this.seenHosts.add(h);
      this.lostHosts.delete(h);
    }
    this.metricsSink.hosts(this.seenHosts.size, this.lostHosts.size);
    this.statusChanged();
  }

  private async teardown(): Promise<void> {
    this.sessionReady = false;
    this.endSession = null;
    const drivers = [...this.drivers.values()];
    this.drivers.clear();
    await Promise.all(drivers.map((d) => d.stop()));
    const watches = this.watches.splice(0);
    await Promise.all(watches.map((w) => w.close()));
    this.registration?.release();
    this.registration = null;
  }

  // ---- turns ------------------------------------------------------------------------

  /** The driver wrote this host's turn: apply its revision now (once), then report the outcome. */
  private onTurnEvent(target: string, e: WatchEvent): void {
    if (e.type !== 'put') return;
    const t = parseJson<TurnRecord>(e);
    if (!t || t.state !== 'applying' || t.session !== this.sessionId) return;
    const id = `${t.session}|${t.rollout}|${t.revision}|${t.started_at}`;
    if (this.takenTurns.has(id)) return;
    this.takenTurns.add(id);
    void this.takeTurn(target, { value: t, mod: e.modRevision });
  }

  private async takeTurn(target: string, turn: Versioned<TurnRecord>): Promise<void> {
    const t = turn.value;
    const mine = () => this.sessionId === t.session && !this.stopping.signal.aborted;
    this.logger.info(
      { unit: target, rollout: t.rollout, fleet_revision: t.revision, batch: t.batch, canary: t.canary === true, converge: t.converge === true },
      'fleet: turn: applying the revision',
    );
    let outcome: ApplyOutcome | null = null;
    for (let attempt = 0; outcome === null; attempt += 1) {
      try {
        outcome = await this.applyNow(target, t.revision, t.rollout, { healthForMs: t.health_wait_ms });
      } catch (err) {
        // etcd could not give the revision (nothing was touched): try again while the turn is this session's.
        this.logger.warn({ unit: target, fleet: this.s.name, err: errorMessage(err) }, 'fleet: cannot apply now; retrying');
        if (!mine()) return;
        await this.sleep(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)));
        if (!mine()) return;
      }
    }
    const result = outcome.status === 'done' ? { state: 'done' as const } : { state: 'failed' as const, step: rolloutStep(outcome), reason: outcome.reason };
    for (let attempt = 0; ; attempt += 1) {
      try {
        const res = await this.store!.txn(reportTxn(this.s.name, target, this.s.host, turn, result, new Date()));
        if (!res.succeeded)
          this.logger.warn({ unit: target, rollout: t.rollout }, 'fleet: turn: the turn was taken back (lost, or a new rollout); outcome not recorded in it');
        return;
      } catch (err) {
        // Until the driver hears of the outcome, this host stays applying in the rollout; its lease going stops that.
        if (!mine() || !this.store) return;
        this.logger.warn({ unit: target, err: errorMessage(err) }, 'fleet: turn: reporting the outcome failed; retrying');
        await this.sleep(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  /** Whether this host drives the target's rollouts now. */
  isDriving(target: string): boolean {
    return this.drivers.get(target)?.isLeading ?? false;
  }

  private async publicKey(b: FleetTargetBinding): Promise<KeyObject | null> {
    if (b.publicKeyFile === undefined) return null;
    return createPublicKey(await readFile(b.publicKeyFile, 'utf8'));
  }

  /**
   * Applies revision `revision` to `target` on this host now (read from
   * etcd, signature checked, written, passed, gated, or restored) and
   * publishes the outcome. Throws only when etcd cannot give the revision
   * (nothing was touched; the caller retries later).
   */
  applyNow(target: string, revision: number, rolloutId = `${target}-${revision}`, opts: { healthForMs?: number | undefined } = {}): Promise<ApplyOutcome> {
    // In the target's queue: never two applies of one target at once.
    const prev = this.queues.get(target) ?? Promise.resolve();
    const run = prev.then(() => this.applyInQueue(target, revision, rolloutId, opts.healthForMs));
    this.queues.set(
      target,
      run.then(
        () => undefined,
        () => undefined,
      ),
    );
    return run;
  }

  private async applyInQueue(target: string, revision: number, rolloutId: string, healthForMs: number | undefined): Promise<ApplyOutcome> {
    const b = this.bindings.get(target);
    if (!b) throw new Error(`target ${target} is not managed by the fleet on this host`);
    const store = this.store;
    if (!store) throw new Error('not connected to etcd');
    const rev = await readRevision(store, this.s.name, target, revision);
    if (!rev) throw new Error(`revision ${revision} of ${target} is not in etcd`);
    const prevState = this.states.get(target)!;
    this.setState(target, { ...prevState, status: 'applying', attempted: revision, at: new Date().toISOString() });
    let outcome: ApplyOutcome;
    let key: KeyObject | null = null;
    let keyError: string | null = null;
    try {
      key = await this.publicKey(b);
    } catch (err) {
      keyError = `cannot read signature.public_key ${b.publicKeyFile}: ${errorMessage(err)}`;
    }
    const sigProblem = keyError ?? (key ? verifyRevision(rev, key, { fleet: this.s.name, target, revision }) : null);
    if (sigProblem !== null) {
      this.logger.error({ unit: target, fleet_revision: revision, security: true, err: sigProblem }, 'fleet: revision refused: signature verification failed');
      outcome = {
        status: 'failed',
        revision,
        step: 'signature',
        reason: `signature verification failed: ${sigProblem}`,
        restored: false,
        config_hash: b.configHash(),
      };
    } else {
      outcome = await applyRevision({
        target: b,
        revision: rev,
        records: this.records,
        logger: this.logger,
        writeSignatures: key !== null,
        signal: this.stopping.signal,
        healthForMs,
      });
    }
    const at = new Date().toISOString();
    const turn_timeout_ms = turnTimeoutMs(b);
    this.logger.debug({ unit: target, rollout: rolloutId, fleet_revision: revision, status: outcome.status }, 'fleet: apply ended');
    if (outcome.status === 'done') {
      this.setState(target, { revision, status: 'done', config_hash: outcome.config_hash, attempted: revision, at, turn_timeout_ms });
    } else {
      this.setState(target, {
        revision: prevState.revision,
        status: outcome.status,
        config_hash: outcome.config_hash,
        attempted: revision,
        reason: outcome.reason,
        at,
        turn_timeout_ms,
      });
    }
    this.metricsSink.rollout(target, outcome.status);
    this.metricsSink.revision(target, this.states.get(target)!.revision);
    return outcome;
  }

  /**
   * The target committed a pass (a local edit, or the fleet's own): the
   * published content hash follows what the target runs.
   */
  noteConfigHash(target: string, hash: string): void {
    const st = this.states.get(target);
    const b = this.bindings.get(target);
    if (!st || !b || st.config_hash === hash || st.status === 'applying') return;
    // A local edit may have touched the fleet's files: drift shows at once, not only at the next push.
    // In the target's queue, so it never races an apply.
    const prev = this.queues.get(target) ?? Promise.resolve();
    const next = prev.then(async () => {
      const now = this.states.get(target)!;
      const rec = await this.records.read(target);
      const drifted = rec && !rec.pending ? await findDrift(b.dir, rec) : [];
      let update: HostTargetState = { ...now, config_hash: hash };
      if (drifted.length > 0) update = { ...update, status: 'drift', reason: driftReason(b.dir, rec!, drifted), at: new Date().toISOString() };
      else if (now.status === 'drift' && rec && now.revision === rec.revision) {
        const { reason: _r, ...rest } = update;
        void _r;
        update = { ...rest, status: 'done', at: new Date().toISOString() };
      }
      if (drifted.length > 0 && now.status !== 'drift') {
        this.logger.warn({ unit: target, paths: drifted }, 'fleet: drift: files the fleet wrote were changed locally');
        this.metricsSink.rollout(target, 'drift');
      }
      this.setState(target, update);
    });
    this.queues.set(
      target,
      next.catch((err: unknown) => this.logger.warn({ unit: target, err: errorMessage(err) }, 'fleet: drift check failed')),
    );
  }

  private setState(target: string, st: HostTargetState): void {
    this.states.set(target, st);
    this.registration?.publish(this.record()).catch((err: unknown) => this.setConnected(false, err));
  }

  private record(): HostRecord {
    return {
      host: this.s.host,
      session: this.sessionId,
      labels: this.s.labels,
      version: this.version,
      started_at: this.startedAt,
      targets: Object.fromEntries(this.states),
    };
  }

  // ---- views ------------------------------------------------------------------

  summary(): FleetSummary {
    const targets: FleetSummary['targets'] = {};
    for (const [t, st] of this.states) {
      targets[t] = {
        revision: st.revision,
        desired: this.desired.get(t)?.revision ?? null,
        status: st.status,
        ...(st.reason ? { reason: st.reason } : {}),
        driving: this.isDriving(t),
      };
    }
    return { fleet: this.s.name, host: this.s.host, connected: this.connectedNow, targets };
  }

  /** The whole fleet from etcd; this host's own view (connected: false) when etcd does not answer. */
  async status(): Promise<FleetStatus> {
    if (this.store && this.connectedNow) {
      try {
        return await readFleetStatus(this.store, this.s.name);
      } catch (err) {
        return this.localStatus(errorMessage(err));
      }
    }
    return this.localStatus(this.lastError || 'not connected to etcd');
  }

  private localStatus(error: string): FleetStatus {
    const targets: FleetStatus['targets'] = {};
    for (const [t, d] of this.desired) targets[t] = { revision: this.states.get(t)?.revision ?? 0, desired: d.revision, driver: null, rollout: null };
    return {
      fleet: this.s.name,
      connected: false,
      hosts: { [this.s.host]: { alive: true, labels: this.s.labels, version: this.version, targets: Object.fromEntries(this.states) } },
      targets,
      error,
    };
  }

  // ---- change events (the status page's live feed) ------------------------------------

  /**
   * Calls `fn` with the fleet's status (as `status()` gives it) whenever it
   * changes: a host's record, a rollout's state, the driver, the connection.
   * A new listener is called soon with the current status. Changes are
   * coalesced (at most one status read per 250 ms, one at a time), and a
   * listener is called only when the JSON differs from its last call.
   * Returns the function that stops the calls.
   */
  onStatusChange(fn: (s: FleetStatus) => void): () => void {
    this.statusListeners.set(fn, '');
    this.statusChanged();
    return () => {
      this.statusListeners.delete(fn);
    };
  }

  /** The same changes as an async iterator; ends when `signal` aborts or the agent closes. */
  async *statusChanges(signal?: AbortSignal): AsyncGenerator<FleetStatus> {
    const queue: FleetStatus[] = [];
    let wake: (() => void) | null = null;
    const off = this.onStatusChange((s) => {
      queue.push(s);
      if (queue.length > 16) queue.shift();
      wake?.();
    });
    const stop = () => wake?.();
    signal?.addEventListener('abort', stop, { once: true });
    this.stopping.signal.addEventListener('abort', stop, { once: true });
    try {
      while (!signal?.aborted && !this.stopping.signal.aborted) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    } finally {
      off();
      signal?.removeEventListener('abort', stop);
      this.stopping.signal.removeEventListener('abort', stop);
    }
  }

  private statusChanged(): void {
    if (this.statusListeners.size === 0 || this.stopping.signal.aborted) return;
    if (this.statusReading) {
      this.statusDirty = true;
      return;
    }
    if (this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null;
      void this.emitStatus();
    }, STATUS_COALESCE_MS);
    this.statusTimer.unref();
  }

  private async emitStatus(): Promise<void> {
    if (this.statusListeners.size === 0) return;
    this.statusReading = true;
    this.statusDirty = false;
    let s: FleetStatus;
    try {
      s = await this.status();
    } finally {
      this.statusReading = false;
    }
    const text = JSON.stringify(s);
    for (const [fn, last] of this.statusListeners) {
      if (text === last) continue;
      this.statusListeners.set(fn, text);
      try {
        fn(s);
      } catch (err) {
        this.logger.warn({ err: errorMessage(err) }, 'fleet: a status listener threw');
      }
    }
    if (this.statusDirty) this.statusChanged();
  }

  // ---- commands (the admin HTTP's POST /fleet/pause|resume|abort) ------------------------

  /**
   * Pauses, resumes or aborts `target`'s rollout as `reloadkit fleet
   * pause|resume|abort` does. An unknown target (neither managed here nor
   * with a rollout in etcd) and a rollout whose state does not allow the
   * command are refused with the reason; etcd not answering is `unavailable`.
   */
  async steer(target: string, command: RolloutCommand, who: string): Promise<RolloutCommandOutcome> {
    const known = NAME_PATTERN.test(target) && (this.bindings.has(target) || this.cache.json(rolloutKey(this.s.name, target)) !== null);
    if (!known) return { ok: false, reason: 'unknown_target', message: `unknown fleet target: ${target.slice(0, 64)}` };
    const store = this.store;
    if (!store || !this.connectedNow) return { ok: false, reason: 'unavailable', message: `not connected to etcd: ${this.lastError || 'connecting'}` };
    try {
      const r = await steerRollout(store, this.s.name, target, command, who);
      this.logger.info({ unit: target, rollout: r.id, state: r.state, by: who }, `fleet: rollout ${command} requested`);
      this.statusChanged();
      return { ok: true, target, rollout: r.id, state: r.state };
    } catch (err) {
      if (err instanceof RolloutError) return { ok: false, reason: 'refused', message: err.message };
      return { ok: false, reason: 'unavailable', message: errorMessage(err) };
    }
  }

  /** Leaves the fleet (revokes the lease), stops watching, lets an apply in flight finish. */
  async close(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    if (this.statusTimer) clearTimeout(this.statusTimer);
    await this.registration?.leave();
    this.endSession?.(new Error('closing'));
    await this.loop;
    await Promise.all([...this.queues.values()]);
    this.store?.close();
    this.store = null;
  }
}

/** How long a turn of this target may take before the driver calls it a timeout: every step's timeout, the gate, the restore. */
function turnTimeoutMs(b: FleetTargetBinding): number {
  const step = b.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const gate = b.health ? b.health.forMs + 2 * b.health.timeoutMs + b.health.intervalMs : 0;
  // Check, reload and verify of the new files, then a reload of the restored ones, plus writing and reading.
  return 4 * step + gate + 10_000;
}
