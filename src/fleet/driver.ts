// The driver of one target's rollouts. Every host that manages the target
// campaigns for it; the one whose transaction creates the driver key
// (`targets/<t>/driver`, attached to the host's own lease) drives. When that
// host dies or is cut off, its lease expires, the key is deleted, every
// other host sees the delete on its watch and campaigns again: the next
// driver leads within the lease TTL plus the time the delete takes to
// arrive. Nothing is handed over: the new driver reads the state machine
// from etcd and continues where it stands.
//
// Why a lease-guarded key rather than etcd3's Election helper: the key
// lives on the lease the host already keeps for its record (one lease and
// one keepalive stream per host, not two), so "the driver is gone" is
// exactly "its host is gone"; and every transition compares the key's
// mod_revision in the same transaction (rollout.ts), which fences out a
// driver that lost the key but has not noticed yet.
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/types.js';
import type { EtcdStore, WatchHandle } from '../etcd/client.js';
import { driverKey, turnsPrefix } from './keys.js';
import type { DriverRecord } from './records.js';
import type { FleetMetricsSink } from './metrics.js';
import { campaignTxn, driveStep, refreshCache, type Action, type KvCache, type RolloutView } from './rollout.js';

export interface DriverOptions {
  store: EtcdStore;
  /** The agent's cache of `hosts/` and `targets/`, fed by its watches; the driver adds the target's turns. */
  cache: KvCache;
  fleet: string;
  target: string;
  host: string;
  session: string;
  /** The host's lease: the driver key lives and dies with it. */
  lease: string;
  logger: Logger;
  metrics: () => FleetMetricsSink;
}

/** Upper bound of actions in one run of the loop (a guard against a decision that never settles). */
const MAX_STEPS = 100_000;

export class TargetDriver {
  private leading = false;
  private stopped = false;
  private dirty = false;
  private running: Promise<void> | null = null;
  private turnsWatch: WatchHandle | null = null;
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  /** Transactions that committed, and ones refused because the view was stale (for the benchmarks). */
  readonly counts = { transitions: 0, conflicts: 0 };

  constructor(private readonly o: DriverOptions) {}

  get isLeading(): boolean {
    return this.leading;
  }

  /** Tries to become the driver (no-op while leading); returns whether this host drives now. */
  async campaign(): Promise<boolean> {
    const { fleet, target, host, session, lease } = this.o;
    if (this.leading) {
      if (this.o.cache.json<DriverRecord>(driverKey(fleet, target))?.value.session === session) return true;
      this.resign('the driver key is gone');
    }
    if (this.stopped) return false;
    const t = campaignTxn(fleet, target, { host, session, since: new Date().toISOString() }, lease);
    const res = await this.o.store.txn(t);
    if (!res.succeeded || this.stopped) return false;
    this.o.cache.applyTxn(t, res.revision);
    this.leading = true;
    this.o.metrics().driver(target, true);
    this.o.logger.info({ unit: target, fleet: fleet, host }, 'fleet: driving the rollouts of this target');
    // The loop sets up the turns watch and reads the state before its first decision.
    this.kick();
    return true;
  }

  /** The watch on the target's turns (the hosts' outcomes), set up once per leadership; retried by the loop when etcd fails. */
  private async ensureWatch(): Promise<void> {
    if (this.turnsWatch) return;
    const { fleet, target } = this.o;
    const w = await this.o.store.watchPrefix(
      turnsPrefix(fleet, target),
      (e) => {
        if (this.o.cache.apply(e.key, e.type === 'put' ? e.value : null, e.modRevision)) this.kick();
      },
      (up) => {
        if (up) this.kick();
      },
    );
    // Stopped, or no longer leading, while the watch was being set up: nothing may keep it open.
    if (!this.leading || this.stopped) {
      await w.close();
      return;
    }
    this.turnsWatch = w;
    await this.resync();
  }

  /** Something the decision depends on changed (a watch event): decide again. */
  kick(): void {
    if (!this.leading || this.stopped) return;
    this.dirty = true;
    this.running ??= this.loop().finally(() => {
      this.running = null;
    });
  }

  /** Reads everything the decisions depend on again (after a refused transaction or a reconnect). */
  private resync(): Promise<void> {
    return refreshCache(this.o.store, this.o.cache, this.o.fleet, this.o.target);
  }

  private async loop(): Promise<void> {
    while (this.dirty && this.leading && !this.stopped) {
      this.dirty = false;
      try {
        await this.steps();
        this.failures = 0;
      } catch (err) {
        // etcd did not answer: the view may be stale; read it again after a backoff.
        this.failures += 1;
        this.o.logger.warn({ unit: this.o.target, err: errorMessage(err) }, 'fleet: driver step failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** Math.min(this.failures, 5))));
        await this.resync().catch(() => {});
        this.dirty = true;
      }
    }
  }

  private async steps(): Promise<void> {
    await this.ensureWatch();
    if (this.failures > 0) await this.resync();
    for (let i = 0; i < MAX_STEPS && this.leading && !this.stopped; i += 1) {
      const r = await driveStep(this.o.store, this.o.cache, this.o.fleet, this.o.target, this.o.session, Date.now);
      if (r.kind === 'not-driver') {
        this.resign('another host holds the driver key');
        return;
      }
      if (r.kind === 'idle') {
        this.armTimer(r.view);
        return;
      }
      if (r.kind === 'conflict') {
        // Something moved since the view was read (a host reported, a pause, another driver): read again, decide again.
        this.counts.conflicts += 1;
        continue;
      }
      this.counts.transitions += 1;
      this.report(r.action, r.view);
    }
  }

  /** Wakes the loop at the earliest turn deadline (a host that never reports). */
  private armTimer(v: RolloutView): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let earliest = Number.POSITIVE_INFINITY;
    for (const t of v.turns.values()) if (t.value.state === 'applying') earliest = Math.min(earliest, Date.parse(t.value.started_at) + t.value.deadline_ms);
    if (!Number.isFinite(earliest)) return;
    this.timer = setTimeout(() => this.kick(), Math.max(0, earliest - Date.now()) + 10);
    this.timer.unref();
  }

  private report(a: Action, v: RolloutView): void {
    const log = this.o.logger;
    const r = v.rollout?.value;
    const base = { unit: this.o.target, rollout: r?.id };
    switch (a.kind) {
      case 'plan':
        log.info({ ...base, canaries: a.canaries }, 'fleet: rollout: canaries chosen');
        break;
      case 'start':
        log.info(
          { ...base, fleet_revision: r?.to, hosts: a.hosts, batch: a.batch, canary: a.canary },
          a.canary ? 'fleet: rollout: canary started' : 'fleet: rollout: batch started',
        );
        break;
      case 'skip':
        log.info({ ...base, hosts: a.hosts }, 'fleet: rollout: hosts already on the revision');
        break;
      case 'lost':
        log.warn({ ...base, host: a.host }, 'fleet: rollout: host lost during its turn');
        break;
      case 'timeout':
        log.error({ ...base, host: a.host }, 'fleet: rollout: host timed out during its turn');
        break;
      case 'halt':
        log.error({ ...base, host: a.reason.host, step: a.reason.step, err: a.reason.message }, 'fleet: rollout halted');
        break;
      case 'finish':
        log.info({ ...base, fleet_revision: r?.to }, 'fleet: rollout done');
        break;
      case 'converge':
        log.info({ ...base, hosts: a.hosts, fleet_revision: a.revision }, 'fleet: converging hosts to the current revision');
        break;
    }
  }

  private resign(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.o.metrics().driver(this.o.target, false);
    this.o.logger.info({ unit: this.o.target, why }, 'fleet: no longer driving this target');
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const w = this.turnsWatch;
    this.turnsWatch = null;
    void w?.close();
  }

  /** Stops driving (the session ended or the agent closes); the key goes with the lease. */
  async stop(): Promise<void> {
    this.resign('stopping');
    this.stopped = true;
    await this.running;
  }
}
