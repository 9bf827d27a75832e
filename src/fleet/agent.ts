// The fleet agent of one daemon: registers the host (with a lease), keeps
// what it runs published, watches the targets' desired revisions and brings
// each fleet-managed target to them through the per-host apply step.
//
// The daemon hands it, per fleet-managed target, only what the apply step
// needs (a name, the directory, a way to run the target's pass, the health
// gate): the daemon's internals stay its own.
//
// etcd down: the host keeps serving what it has, `connected` is false,
// the session is retried with exponential backoff and jitter; on reconnect
// the host publishes its record again and catches up with the desired
// revisions (the same pass as any other apply).
import { readFile } from 'node:fs/promises';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/types.js';
import { applyRevision, driftReason, fileRecordStore, findDrift, type ApplyOutcome, type FleetTargetBinding, type RecordStore } from './apply.js';
import { EtcdStore, type EtcdConnectOptions, type WatchHandle } from '../etcd/client.js';
import { desiredKey, hostsPrefix, parseHostKey, parseTargetKey, targetsPrefix } from './keys.js';
import { noopFleetMetrics, type FleetMetricsSink } from './metrics.js';
import { HostRegistration } from './registry.js';
import { parseJson, readRevision, verifyRevision, type DesiredRecord } from './revisions.js';
import { readFleetStatus, type FleetStatus, type HostRecord, type HostTargetState } from './status.js';

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
  /**
   * Apply a new desired revision as soon as it is seen (default true). A
   * rollout driver that orders hosts turns it off and runs `applyNow` on
   * each host in its turn; convergence at start and after an outage then
   * goes through the driver too.
   */
  autoApply?: boolean;
}

/** The fleet in `reloadkit status`: this host's view, without asking etcd. */
export interface FleetSummary {
  fleet: string;
  host: string;
  connected: boolean;
  targets: Record<string, { revision: number; desired: number | null; status: HostTargetState['status']; reason?: string }>;
}

const MAX_BACKOFF_MS = 10_000;

export class FleetAgent {
  private readonly s: FleetSettings;
  private readonly logger: Logger;
  private readonly records: RecordStore;
  private readonly bindings = new Map<string, FleetTargetBinding>();
  private readonly states = new Map<string, HostTargetState>();
  private readonly desired = new Map<string, DesiredRecord>();
  /** Per target, the rollout this host already tried (done or failed): not tried again until a new one. */
  private readonly attempted = new Map<string, string>();
  private readonly queues = new Map<string, Promise<void>>();
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
  private readonly autoApply: boolean;

  constructor(o: FleetAgentOptions) {
    this.s = o.settings;
    this.autoApply = o.autoApply ?? true;
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
      });
    }
    this.loop = this.run();
  }

  // ---- connection -----------------------------------------------------------

  private setConnected(up: boolean, err?: unknown): void {
    if (up === this.connectedNow) return;
    this.connectedNow = up;
    this.metricsSink.connected(up);
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

  /** One session: a lease, the host record, the watches; ends when the lease is lost (or on close). */
  private async session(): Promise<void> {
    this.store ??= await EtcdStore.connect(this.s.etcd);
    const store = this.store;
    const ended = new Promise<Error>((resolve) => (this.endSession = resolve));
    const reg = new HostRegistration(store, this.s.name, this.s.host, Math.max(1, Math.round(this.s.etcd.leaseTtlMs / 1000)), this.logger);
    this.registration = reg;
    await reg.register(this.record(), {
      onRenewal: (ok, err) => (ok ? this.onUp() : this.setConnected(false, err)),
      onLost: (err) => this.endSession?.(err),
    });
    this.watches.push(
      await store.watchPrefix(
        targetsPrefix(this.s.name),
        (e) => {
          const k = parseTargetKey(this.s.name, e.key);
          if (!k || k.kind !== 'desired' || e.type !== 'put' || !this.bindings.has(k.target)) return;
          const d = parseJson<DesiredRecord>({ value: e.value });
          if (d) this.onDesired(k.target, d);
        },
        (up, err) => (up ? this.onUp() : this.setConnected(false, err)),
      ),
      await store.watchPrefix(
        hostsPrefix(this.s.name),
        (e) => {
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
        },
        () => {},
      ),
    );
    if (this.stopping.signal.aborted) return;
    this.setConnected(true);
    await this.resync();
    this.sessionReady = true;
    throw await ended;
  }

  /** A renewal or watch came back after a failure: publish again and catch up. */
  private onUp(): void {
    if (this.connectedNow || this.stopping.signal.aborted || !this.sessionReady) return;
    this.setConnected(true);
    void this.resync().catch((err: unknown) => this.setConnected(false, err));
  }

  /** Publishes the record again, reads every desired revision and the host list. */
  private async resync(): Promise<void> {
    const store = this.store!;
    this.registration?.invalidate();
    await this.registration?.publish(this.record());
    for (const t of this.bindings.keys()) {
      const d = parseJson<DesiredRecord>(await store.get(desiredKey(this.s.name, t)));
      if (d) this.onDesired(t, d);
    }
    const hosts = await store.getPrefix(hostsPrefix(this.s.name));
    const alive = new Set(hosts.map((kv) => parseHostKey(this.s.name, kv.key)).filter((h): h is string => h !== null));
    for (const h of this.seenHosts) if (!alive.has(h)) this.lostHosts.add(h);
    this.seenHosts.clear();
    for (const h of alive) {
      this.seenHosts.add(h);
      this.lostHosts.delete(h);
    }
    this.metricsSink.hosts(this.seenHosts.size, this.lostHosts.size);
  }

  private async teardown(): Promise<void> {
    this.sessionReady = false;
    this.endSession = null;
    const watches = this.watches.splice(0);
    await Promise.all(watches.map((w) => w.close()));
    this.registration?.release();
    this.registration = null;
  }

  // ---- convergence ------------------------------------------------------------

  private onDesired(target: string, d: DesiredRecord): void {
    this.desired.set(target, d);
    this.schedule(target);
  }

  /** The desired revision of each managed target as last seen (for a driver deciding whose turn it is). */
  desiredRevisions(): ReadonlyMap<string, DesiredRecord> {
    return this.desired;
  }

  /** Per target, one apply at a time; a newer desired revision is taken up when the current apply ends. */
  private schedule(target: string): void {
    const prev = this.queues.get(target) ?? Promise.resolve();
    const next = prev
      .then(() => this.converge(target))
      .catch((err: unknown) => {
        // etcd could not give the revision (nothing was touched): try again shortly, with jitter.
        this.logger.warn({ unit: target, fleet: this.s.name, err: errorMessage(err) }, 'fleet: cannot apply now; retrying');
        if (!this.stopping.signal.aborted) setTimeout(() => this.schedule(target), 500 + Math.random() * 1000).unref();
      });
    this.queues.set(target, next);
  }

  /**
   * This version's policy: a host applies the desired revision as soon as
   * it sees it (once per rollout). The apply itself is `applyNow`, the step
   * a rollout scheduler can run in its own order.
   */
  private async converge(target: string): Promise<void> {
    const d = this.desired.get(target);
    const st = this.states.get(target);
    if (!d || !st || this.stopping.signal.aborted) return;
    if (this.attempted.get(target) === d.rollout) return;
    if (st.revision === d.revision && st.status === 'done') {
      this.attempted.set(target, d.rollout);
      return;
    }
    if (!this.connectedNow || !this.autoApply) return; // taken up again on reconnect, or by the driver
    await this.applyInQueue(target, d.revision, d.rollout);
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
  applyNow(target: string, revision: number, rolloutId = `${target}-${revision}`): Promise<ApplyOutcome> {
    // In the target's queue: never two applies of one target at once.
    const prev = this.queues.get(target) ?? Promise.resolve();
    const run = prev.then(() => this.applyInQueue(target, revision, rolloutId));
    this.queues.set(
      target,
      run.then(
        () => undefined,
        () => undefined,
      ),
    );
    return run;
  }

  private async applyInQueue(target: string, revision: number, rolloutId: string): Promise<ApplyOutcome> {
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
    const sigProblem = keyError ?? (key ? verifyRevision(rev, key, { fleet: this.s.name, target }) : null);
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
      });
    }
    this.attempted.set(target, rolloutId);
    const at = new Date().toISOString();
    if (outcome.status === 'done') {
      this.setState(target, { revision, status: 'done', config_hash: outcome.config_hash, attempted: revision, at });
    } else {
      this.setState(target, {
        revision: prevState.revision,
        status: outcome.status,
        config_hash: outcome.config_hash,
        attempted: revision,
        reason: outcome.reason,
        at,
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
      targets[t] = { revision: st.revision, desired: this.desired.get(t)?.revision ?? null, status: st.status, ...(st.reason ? { reason: st.reason } : {}) };
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
    for (const [t, d] of this.desired) targets[t] = { revision: this.states.get(t)?.revision ?? 0, desired: d.revision, rollout: null };
    return {
      fleet: this.s.name,
      connected: false,
      hosts: { [this.s.host]: { alive: true, labels: this.s.labels, version: this.version, targets: Object.fromEntries(this.states) } },
      targets,
      error,
    };
  }

  /** Leaves the fleet (revokes the lease), stops watching, lets an apply in flight finish. */
  async close(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    await this.registration?.leave();
    this.endSession?.(new Error('closing'));
    await this.loop;
    await Promise.all([...this.queues.values()]);
    this.store?.close();
    this.store = null;
  }
}
