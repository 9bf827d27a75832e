// Rolling rollouts as a state machine stored in etcd, and the pure functions
// that advance it. The driver (driver.ts) reads what etcd holds into a
// KvCache, asks `nextAction` what to do, and writes the answer with the
// transaction `actionTxn` builds; the same functions run against an
// in-memory store in the randomized tests.
//
// Order: the canary hosts first, one at a time, each done before any other
// host starts (hosts labelled `canary: "true"`, else the first `canary`
// hosts by name); then batches of at most `batch` hosts by name, the next
// batch starting once every host of the previous one finished. A host is
// done when its apply (write, check, reload, verify, health gate) ended well.
//
// Safety comes from the transactions, not from the driver being alone:
// every transition compares the mod_revision of each key it read and
// decided on (the rollout record, the host's turn, the driver key itself),
// so a driver acting on a stale view, or a second driver that believes it
// still leads, changes nothing; it re-reads and decides again. A host is
// started only when its turn key is as the driver read it, so no host is
// started twice for one session of it, and never more than `batch` are
// applying: only the driver that holds the driver key can start a host.
import type { KeyValue, Txn, TxnCompare, TxnPut } from '../etcd/client.js';
import { currentKey, driverKey, hostsPrefix, parseHostKey, parseTurnKey, rolloutKey, targetPrefix, turnKey, turnsPrefix } from './keys.js';
import type { DriverRecord, HaltReason, HostRecord, RolloutRecord, TurnRecord } from './records.js';

/** A record with the mod_revision it was read at (what a transaction compares). */
export interface Versioned<T> {
  value: T;
  mod: string;
}

/** Everything the driver's decisions about one target depend on. */
export interface RolloutView {
  fleet: string;
  target: string;
  rollout: Versioned<RolloutRecord> | null;
  current: Versioned<{ revision: number }> | null;
  driver: Versioned<DriverRecord> | null;
  /** Live hosts (their lease holds) that manage the target. */
  hosts: ReadonlyMap<string, HostRecord>;
  /** The turns of the target (the latest rollout's, and convergence turns after it). */
  turns: ReadonlyMap<string, Versioned<TurnRecord>>;
}

/** A host's place in a rollout. */
export type HostRolloutState = 'pending' | 'applying' | 'done' | 'failed' | 'lost';

export type Action =
  | { kind: 'lost'; host: string }
  | { kind: 'timeout'; host: string }
  | { kind: 'halt'; reason: HaltReason }
  | { kind: 'plan'; canaries: string[] }
  | { kind: 'skip'; hosts: string[] }
  | { kind: 'start'; hosts: string[]; canary: boolean; batch: number }
  | { kind: 'finish' }
  | { kind: 'converge'; hosts: string[]; revision: number };

/** etcd refuses a transaction of more than 128 operations by default (`--max-txn-ops`): turns are written at most this many at once. */
export const MAX_HOSTS_PER_TXN = 100;
/** A host that does not publish how long its turn may take gets this long. */
const DEFAULT_TURN_TIMEOUT_MS = 10 * 60_000;

// ---- the cache of what etcd holds ---------------------------------------------

interface Entry {
  value: Buffer | null;
  mod: bigint;
  parsed?: unknown;
}

/**
 * Keys as last seen, from range reads and watch events in any order: a
 * change is taken only when it is newer (by etcd's revision) than what the
 * cache has, and a delete is kept as a tombstone so an older read cannot
 * bring the key back.
 */
export class KvCache {
  private readonly entries = new Map<string, Entry>();

  /** A put (value) or delete (null) seen at revision `mod`; false when the cache already had something newer. */
  apply(key: string, value: Buffer | null, mod: string): boolean {
    const m = BigInt(mod);
    const cur = this.entries.get(key);
    if (cur && cur.mod >= m) return false;
    this.entries.set(key, { value, mod: m });
    return true;
  }

  /** A range read of `prefix` at `revision`: keys it lacks are gone, unless the cache saw them after the read. */
  applyRange(prefix: string, kvs: readonly KeyValue[], revision: string): void {
    const seen = new Set<string>();
    for (const kv of kvs) {
      seen.add(kv.key);
      this.apply(kv.key, kv.value, kv.modRevision);
    }
    const r = BigInt(revision);
    for (const [key, e] of this.entries) {
      if (key.startsWith(prefix) && !seen.has(key) && e.value !== null && e.mod <= r) this.entries.set(key, { value: null, mod: r });
    }
  }

  /** What a successful transaction wrote, at its revision. */
  applyTxn(t: Txn, revision: string): void {
    for (const p of t.puts) this.apply(p.key, Buffer.from(p.value), revision);
    for (const prefix of t.deletePrefixes ?? []) {
      for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.apply(key, null, revision);
    }
  }

  /** The key's JSON value (parsed once per version), or null when absent or not JSON. */
  json<T>(key: string): Versioned<T> | null {
    const e = this.entries.get(key);
    return e ? this.parse<T>(e) : null;
  }

  /** Every present key under `prefix` with its JSON value. */
  *jsonUnder<T>(prefix: string): Iterable<[string, Versioned<T>]> {
    for (const [key, e] of this.entries) {
      if (!key.startsWith(prefix)) continue;
      const v = this.parse<T>(e);
      if (v) yield [key, v];
    }
  }

  private parse<T>(e: Entry): Versioned<T> | null {
    if (e.value === null) return null;
    if (e.parsed === undefined) {
      try {
        e.parsed = JSON.parse(e.value.toString('utf8')) as unknown;
      } catch {
        e.parsed = null;
      }
    }
    return e.parsed === null ? null : { value: e.parsed as T, mod: e.mod.toString() };
  }
}

/** The view of one target from the cache (which holds `hosts/`, the target's `targets/<t>/` keys and its turns). */
export function rolloutView(cache: KvCache, fleet: string, target: string): RolloutView {
  const hosts = new Map<string, HostRecord>();
  for (const [key, rec] of cache.jsonUnder<HostRecord>(hostsPrefix(fleet))) {
    const name = parseHostKey(fleet, key);
    if (name !== null && rec.value.targets?.[target] !== undefined) hosts.set(name, rec.value);
  }
  const turns = new Map<string, Versioned<TurnRecord>>();
  for (const [key, rec] of cache.jsonUnder<TurnRecord>(turnsPrefix(fleet, target))) {
    const k = parseTurnKey(fleet, key);
    if (k) turns.set(k.host, rec);
  }
  return {
    fleet,
    target,
    rollout: cache.json<RolloutRecord>(rolloutKey(fleet, target)),
    current: cache.json<{ revision: number }>(currentKey(fleet, target)),
    driver: cache.json<DriverRecord>(driverKey(fleet, target)),
    hosts,
    turns,
  };
}

// ---- where each host stands -----------------------------------------------------

export interface Participant {
  host: string;
  state: HostRolloutState;
  /** Its lease holds (a `lost` host that came back in a new session is `pending` again). */
  live: boolean;
  canary: boolean;
  turn: TurnRecord | null;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Every host taking part in rollout `r`, by name: the live hosts that manage
 * the target, and every host that had a turn in it. A host without a turn
 * is `pending`; one whose turn was `lost` and that is back in a new session
 * is `pending` again (it converges when it returns).
 */
export function participants(v: RolloutView, r: RolloutRecord): Participant[] {
  const names = new Set<string>([...v.hosts.keys()]);
  for (const [host, t] of v.turns) if (t.value.rollout === r.id) names.add(host);
  const canaries = new Set(r.canaries ?? []);
  const out: Participant[] = [];
  for (const host of [...names].sort(byName)) {
    const h = v.hosts.get(host);
    const t = v.turns.get(host)?.value;
    const turn = t && t.rollout === r.id ? t : null;
    let state: HostRolloutState;
    if (!turn) state = 'pending';
    else if (turn.state === 'lost' && h !== undefined && h.session !== turn.session) state = 'pending';
    else state = turn.state;
    if (state === 'pending' && h === undefined) continue; // gone before its turn: not part of it
    out.push({ host, state, live: h !== undefined, canary: canaries.has(host), turn });
  }
  return out;
}

/** The canaries of a rollout about to start: the live hosts labelled `canary: "true"`, else the first `canary` by name. */
function pickCanaries(v: RolloutView, r: RolloutRecord): string[] {
  const names = [...v.hosts.keys()].sort(byName);
  const labelled = names.filter((n) => v.hosts.get(n)!.labels?.canary === 'true');
  return labelled.length > 0 ? labelled : names.slice(0, Math.max(0, r.canary));
}

// ---- the next transition ----------------------------------------------------------

/**
 * What the driver does next for the target, or null when it waits (for a
 * host to finish, a paused rollout to resume, a timer). One action at a
 * time: each is written, then the next is decided on the updated view.
 */
export function nextAction(v: RolloutView, now: number): Action | null {
  // A turn whose host is gone (its lease expired) or is another session of it (restarted) is lost;
  // one that outlived its deadline failed.
  for (const [host, t] of v.turns) {
    if (t.value.state !== 'applying') continue;
    const h = v.hosts.get(host);
    if (h === undefined || h.session !== t.value.session) return { kind: 'lost', host };
    if (now >= Date.parse(t.value.started_at) + t.value.deadline_ms) return { kind: 'timeout', host };
  }
  const r = v.rollout?.value ?? null;
  if (r && (r.state === 'running' || r.state === 'paused')) return nextInRollout(v, r);
  return nextConvergence(v, r);
}

function nextInRollout(v: RolloutView, r: RolloutRecord): Action | null {
  const ps = participants(v, r);
  const failed = ps
    .filter((p) => p.state === 'failed' && p.turn !== null && !p.turn.converge)
    .sort((a, b) => byName(a.turn!.ended_at ?? '', b.turn!.ended_at ?? '') || byName(a.host, b.host))[0];
  if (failed) return { kind: 'halt', reason: { host: failed.host, step: failed.turn!.step ?? 'apply', message: failed.turn!.reason ?? 'failed' } };
  if (r.canaries === undefined) return { kind: 'plan', canaries: pickCanaries(v, r) };
  const pending = ps.filter((p) => p.state === 'pending');
  // Already on the revision (a rollback to what a host runs, a host back with it applied): done without a turn.
  // A host whose last apply failed has its files back at `revision`, so it counts too.
  const already = pending.filter((p) => {
    const st = v.hosts.get(p.host)!.targets[v.target]!;
    return st.revision === r.to && (st.status === 'done' || st.status === 'failed');
  });
  if (already.length > 0) return { kind: 'skip', hosts: already.slice(0, MAX_HOSTS_PER_TXN).map((p) => p.host) };
  if (r.state === 'paused') return null;
  const applying = ps.filter((p) => p.state === 'applying');
  const canaryPending = pending.filter((p) => p.canary);
  if (canaryPending.length > 0 || applying.some((p) => p.canary)) {
    if (applying.length > 0) return null;
    return { kind: 'start', hosts: [canaryPending[0]!.host], canary: true, batch: 0 };
  }
  if ((r.canaries?.length ?? 0) > 0 && !ps.some((p) => p.canary && p.state === 'done') && pending.length > 0) {
    // Every canary is gone (before or during its turn): the next host by name is the canary.
    return { kind: 'plan', canaries: [...r.canaries!, pending[0]!.host] };
  }
  if (applying.length > 0) return null;
  if (pending.length > 0) {
    let batch = 0;
    for (const p of ps) if (p.turn && !p.turn.converge) batch = Math.max(batch, p.turn.batch);
    const size = Math.min(Math.max(1, r.batch), MAX_HOSTS_PER_TXN);
    return { kind: 'start', hosts: pending.slice(0, size).map((p) => p.host), canary: false, batch: batch + 1 };
  }
  return { kind: 'finish' };
}

/**
 * No rollout runs: hosts not on the fleet's current revision (they started,
 * or came back) are brought to it, at most `batch` at a time. Hosts that
 * reached the revision of a halted or aborted rollout stay there (a
 * rollback returns them), a host still applying a turn is left to finish
 * it, and a host is tried once per session.
 */
function nextConvergence(v: RolloutView, r: RolloutRecord | null): Action | null {
  const c = v.current?.value.revision ?? 0;
  if (c === 0) return null;
  let applying = 0;
  for (const t of v.turns.values()) if (t.value.state === 'applying') applying += 1;
  const room = Math.min(Math.max(1, r?.batch ?? 1), MAX_HOSTS_PER_TXN) - applying;
  if (room <= 0) return null;
  const stopped = r !== null && (r.state === 'halted' || r.state === 'aborted');
  const hosts: string[] = [];
  for (const name of [...v.hosts.keys()].sort(byName)) {
    const h = v.hosts.get(name)!;
    const st = h.targets[v.target]!;
    if (h.session === undefined || st.status === 'applying' || st.status === 'drift') continue;
    if (st.revision === c || (stopped && st.revision === r.to && st.status === 'done')) continue;
    const t = v.turns.get(name)?.value;
    if (t?.state === 'applying') continue; // still applying a turn (of a stopped rollout): never started twice
    if (t && t.session === h.session && t.revision === c) continue; // tried in this session
    hosts.push(name);
    if (hosts.length >= room) break;
  }
  return hosts.length > 0 ? { kind: 'converge', hosts, revision: c } : null;
}

// ---- the transactions ---------------------------------------------------------------

function deadlineFor(h: HostRecord, target: string, r: RolloutRecord | null): number {
  return (h.targets[target]?.turn_timeout_ms ?? DEFAULT_TURN_TIMEOUT_MS) + (r?.health_wait_ms ?? 0);
}

/** The guards and writes every action's transaction is made of. */
interface TxnParts {
  v: RolloutView;
  at: string;
  /** Only the driver writes: its key's mod_revision as read. */
  fence: TxnCompare;
  onRollout: TxnCompare;
  onTurn(host: string): TxnCompare;
  putTurn(host: string, t: TurnRecord): TxnPut;
  putRollout(rec: RolloutRecord): TxnPut;
  /** The rollout in the view; an action that needs one and finds none is a bug. */
  rollout(): RolloutRecord;
}

function txnParts(v: RolloutView, kind: Action['kind'], now: Date): TxnParts {
  const { fleet, target } = v;
  if (!v.driver) throw new Error('no driver key in the view');
  return {
    v,
    at: now.toISOString(),
    fence: { key: driverKey(fleet, target), modRevision: v.driver.mod },
    onRollout: { key: rolloutKey(fleet, target), modRevision: v.rollout?.mod ?? '0' },
    onTurn: (host) => ({ key: turnKey(fleet, target, host), modRevision: v.turns.get(host)?.mod ?? '0' }),
    putTurn: (host, t) => ({ key: turnKey(fleet, target, host), value: JSON.stringify(t) }),
    putRollout: (rec) => ({ key: rolloutKey(fleet, target), value: JSON.stringify(rec) }),
    rollout: () => {
      if (!v.rollout) throw new Error(`${kind}: no rollout in the view`);
      return v.rollout.value;
    },
  };
}

/**
 * The transaction that makes action `a` happen, guarded by the
 * mod_revisions in `v`: the driver key (only the driver writes), and every
 * record the decision read (the rollout, each turn it writes, the current
 * revision for convergence). It changes nothing when any moved meanwhile.
 */
function actionTxn(v: RolloutView, a: Action, now: Date): Txn {
  const p = txnParts(v, a.kind, now);
  const { fence, onRollout, at } = p;
  switch (a.kind) {
    case 'lost': {
      const t = v.turns.get(a.host)!.value;
      const reason = v.hosts.has(a.host) ? 'the host restarted during its turn' : "the host's lease expired during its turn";
      return { compares: [fence, p.onTurn(a.host)], puts: [p.putTurn(a.host, { ...t, state: 'lost', ended_at: at, reason })] };
    }
    case 'timeout': {
      const t = v.turns.get(a.host)!.value;
      const reason = `no outcome within ${Math.round(t.deadline_ms / 1000)} s of the turn's start`;
      return { compares: [fence, p.onTurn(a.host)], puts: [p.putTurn(a.host, { ...t, state: 'failed', step: 'timeout', ended_at: at, reason })] };
    }
    case 'halt':
      return { compares: [fence, onRollout], puts: [p.putRollout({ ...p.rollout(), state: 'halted', reason: a.reason, ended_at: at })] };
    case 'plan':
      return { compares: [fence, onRollout], puts: [p.putRollout({ ...p.rollout(), canaries: a.canaries })] };
    case 'finish':
      return {
        compares: [fence, onRollout],
        puts: [
          p.putRollout({ ...p.rollout(), state: 'done', ended_at: at }),
          { key: currentKey(v.fleet, v.target), value: JSON.stringify({ revision: p.rollout().to }) },
        ],
      };
    case 'skip':
      return skipTxn(p, a.hosts);
    case 'start':
      return startTxn(p, a);
    case 'converge':
      return convergeTxn(p, a);
  }
}

/** Hosts already on the rollout's revision: their turns are recorded done, never run. */
function skipTxn(p: TxnParts, hosts: readonly string[]): Txn {
  const rec = p.rollout();
  return {
    compares: [p.fence, p.onRollout, ...hosts.map(p.onTurn)],
    puts: hosts.map((host) =>
      p.putTurn(host, {
        rollout: rec.id,
        revision: rec.to,
        session: p.v.hosts.get(host)!.session ?? '',
        state: 'done',
        batch: 0,
        skipped: true,
        deadline_ms: 0,
        started_at: p.at,
        ended_at: p.at,
      }),
    ),
  };
}

function startTxn(p: TxnParts, a: Extract<Action, { kind: 'start' }>): Txn {
  const rec = p.rollout();
  return {
    compares: [p.fence, p.onRollout, ...a.hosts.map(p.onTurn)],
    puts: a.hosts.map((host) => {
      const h = p.v.hosts.get(host)!;
      return p.putTurn(host, {
        rollout: rec.id,
        revision: rec.to,
        session: h.session ?? '',
        state: 'applying',
        batch: a.batch,
        ...(a.canary ? { canary: true } : {}),
        ...(rec.health_wait_ms === undefined ? {} : { health_wait_ms: rec.health_wait_ms }),
        deadline_ms: deadlineFor(h, p.v.target, rec),
        started_at: p.at,
      });
    }),
  };
}

/** Hosts behind the current revision outside any rollout: also guarded by the current revision's record. */
function convergeTxn(p: TxnParts, a: Extract<Action, { kind: 'converge' }>): Txn {
  const { v } = p;
  return {
    compares: [p.fence, p.onRollout, { key: currentKey(v.fleet, v.target), modRevision: v.current?.mod ?? '0' }, ...a.hosts.map(p.onTurn)],
    puts: a.hosts.map((host) => {
      const h = v.hosts.get(host)!;
      return p.putTurn(host, {
        rollout: v.rollout?.value.id ?? '',
        revision: a.revision,
        session: h.session ?? '',
        state: 'applying',
        batch: 0,
        converge: true,
        deadline_ms: deadlineFor(h, v.target, null),
        started_at: p.at,
      });
    }),
  };
}

/** A host's outcome of its turn, guarded by the turn as the host saw it (a turn the driver marked lost, or a new rollout replaced, is not overwritten). */
export function reportTxn(
  fleet: string,
  target: string,
  host: string,
  turn: Versioned<TurnRecord>,
  outcome: { state: 'done' | 'failed'; step?: string | undefined; reason?: string | undefined },
  now: Date,
): Txn {
  const rec: TurnRecord = {
    ...turn.value,
    state: outcome.state,
    ended_at: now.toISOString(),
    ...(outcome.step === undefined ? {} : { step: outcome.step }),
    ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
  };
  const key = turnKey(fleet, target, host);
  return { compares: [{ key, modRevision: turn.mod }], puts: [{ key, value: JSON.stringify(rec) }] };
}

// ---- one decision of the driver --------------------------------------------------------

/** What a driver step needs of etcd (EtcdStore; an in-memory store in tests). */
export interface DriverStore {
  txn(t: Txn): Promise<{ succeeded: boolean; revision: string }>;
  rangePrefix(prefix: string): Promise<{ kvs: KeyValue[]; revision: string }>;
}

export type StepResult =
  { kind: 'wrote'; action: Action; view: RolloutView } | { kind: 'conflict' } | { kind: 'idle'; view: RolloutView } | { kind: 'not-driver' };

/** Reads `hosts/`, the target's records and its turns into the cache (after a refused transaction, or before deciding a rollout's end). */
export async function refreshCache(store: DriverStore, cache: KvCache, fleet: string, target: string): Promise<void> {
  for (const prefix of [hostsPrefix(fleet), targetPrefix(fleet, target), turnsPrefix(fleet, target)]) {
    const r = await store.rangePrefix(prefix);
    cache.applyRange(prefix, r.kvs, r.revision);
  }
}

/**
 * One step of the driver of session `session`: decide on the cache, write
 * the decision guarded by what it read, and take the write into the cache.
 * Choosing the canaries and finishing a rollout depend on which hosts
 * exist, which no single key guards: those two are decided again on a
 * fresh read first (a host that registers after that read converges later).
 * A refused write re-reads everything.
 */
export async function driveStep(store: DriverStore, cache: KvCache, fleet: string, target: string, session: string, now: () => number): Promise<StepResult> {
  let v = rolloutView(cache, fleet, target);
  if (!v.driver || v.driver.value.session !== session) return { kind: 'not-driver' };
  let a = nextAction(v, now());
  if (a && (a.kind === 'finish' || a.kind === 'plan')) {
    await refreshCache(store, cache, fleet, target);
    v = rolloutView(cache, fleet, target);
    if (!v.driver || v.driver.value.session !== session) return { kind: 'not-driver' };
    a = nextAction(v, now());
  }
  if (!a) return { kind: 'idle', view: v };
  const t = actionTxn(v, a, new Date(now()));
  const res = await store.txn(t);
  if (!res.succeeded) {
    await refreshCache(store, cache, fleet, target);
    return { kind: 'conflict' };
  }
  cache.applyTxn(t, res.revision);
  return { kind: 'wrote', action: a, view: v };
}

/** Becoming the target's driver: the driver key is created only when absent, attached to the host's lease. */
export function campaignTxn(fleet: string, target: string, rec: DriverRecord, lease: string): Txn {
  const key = driverKey(fleet, target);
  return { compares: [{ key, modRevision: '0' }], puts: [{ key, value: JSON.stringify(rec), lease }] };
}
