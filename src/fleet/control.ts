// Starting and steering rollouts: push (store revision N and start its
// rollout), rollback (a new rollout to an earlier revision), pause, resume
// and abort. Each is one etcd transaction guarded by the records it read,
// so two pushes at once get two numbers, and a push while a rollout runs,
// or while a host still applies a turn of an earlier one, is refused
// (naming it) without writing anything.
import type { KeyObject } from 'node:crypto';
import type { KeyValue, Txn, TxnResult } from '../etcd/client.js';
import { RevisionError, RolloutError } from '../shared/errors.js';
import { currentKey, desiredKey, headKey, hostKey, parseTurnKey, revisionKey, rolloutKey, turnsPrefix } from './keys.js';
import { parseJson, type DesiredRecord, type HostRecord, type RolloutRecord, type TurnRecord } from './records.js';
import { buildManifest, encodeRevision, type RevisionFile } from './revisions.js';
import type { RolloutCommand } from '../shared/fleet-commands.js';

/** What the rollout commands need of etcd (EtcdStore; an in-memory store in tests). */
export interface ControlStore {
  get(key: string): Promise<KeyValue | null>;
  rangePrefix(prefix: string): Promise<{ kvs: KeyValue[]; revision: string }>;
  txn(t: Txn): Promise<TxnResult>;
}

/** How a rollout goes: `--canary N`, `--batch K`, `--health-wait D`. */
export interface RolloutOptions {
  canary?: number | undefined;
  batch?: number | undefined;
  healthWaitMs?: number | undefined;
}

interface Who {
  author: string;
  message: string;
}

export interface PushMeta extends Who {
  fleet: string;
  target: string;
  key?: KeyObject | undefined;
  rollout?: RolloutOptions | undefined;
}

/** `targets/<t>/head`: the last revision number given out, and how many rollouts the target had. */
interface HeadRecord {
  revision: number;
  rollouts?: number;
}

const ATTEMPTS = 20;

/** A push or rollback is refused while the target's rollout runs or is paused. */
function refuseWhileBusy(what: string, r: RolloutRecord | null, target: string): void {
  if (r && (r.state === 'running' || r.state === 'paused')) {
    throw new RolloutError(
      `${what} refused: rollout ${r.id} of ${target} (revision ${r.from} -> ${r.to}) is ${r.state}; wait for it to end, or stop it with reloadkit fleet abort ${target}`,
      r.id,
    );
  }
}

interface ApplyingTurn {
  host: string;
  turn: TurnRecord;
}

/**
 * A new rollout replaces every turn of the target. A host still applying a
 * turn (of a halted or aborted rollout, or converging) would lose it: the
 * new rollout would not count it as applying (its canary could start next
 * to it, more than K hosts at once), and its outcome would be dropped. So a
 * push or rollback waits for those turns to end. A turn whose host is gone
 * or restarted does not count: no one applies it (the driver marks it lost).
 */
function refuseWhileApplying(what: string, applying: readonly ApplyingTurn[], target: string, r: RolloutRecord | null): void {
  if (applying.length === 0) return;
  const one = (a: ApplyingTurn) =>
    a.turn.converge
      ? `${a.host} (converging to revision ${a.turn.revision})`
      : `${a.host} (revision ${a.turn.revision}, rollout ${a.turn.rollout}${r && r.id === a.turn.rollout ? `, ${r.state}` : ''})`;
  const hosts = applying.length === 1 ? `host ${one(applying[0]!)} is` : `hosts ${applying.map(one).join(', ')} are`;
  throw new RolloutError(
    `${what} refused: ${hosts} still applying an earlier turn of ${target}; retry when ${applying.length === 1 ? 'it finishes (reloadkit fleet status shows it)' : 'they finish (reloadkit fleet status shows them)'}`,
    r?.id,
  );
}

/** The turns of the target that a live session of their host is applying, and the revision of the read (what the start transaction guards). */
async function readApplying(store: ControlStore, fleet: string, target: string): Promise<{ applying: ApplyingTurn[]; readAt: string }> {
  const { kvs, revision } = await store.rangePrefix(turnsPrefix(fleet, target));
  const applying: ApplyingTurn[] = [];
  for (const kv of kvs) {
    const host = parseTurnKey(fleet, kv.key)?.host;
    const turn = parseJson<TurnRecord>(kv);
    if (host === undefined || turn?.state !== 'applying') continue;
    const rec = parseJson<HostRecord>(await store.get(hostKey(fleet, host)));
    if (rec !== null && rec.session === turn.session) applying.push({ host, turn });
  }
  return { applying, readAt: revision };
}

async function readState(store: ControlStore, fleet: string, target: string) {
  const [head, rollout, current, turns] = await Promise.all([
    store.get(headKey(fleet, target)),
    store.get(rolloutKey(fleet, target)),
    store.get(currentKey(fleet, target)),
    readApplying(store, fleet, target),
  ]);
  const h = parseJson<HeadRecord>(head);
  return {
    head,
    last: h?.revision ?? 0,
    rollouts: h?.rollouts ?? h?.revision ?? 0,
    rollout,
    record: parseJson<RolloutRecord>(rollout),
    current: parseJson<{ revision: number }>(current)?.revision ?? 0,
    applying: turns.applying,
    turnsReadAt: turns.readAt,
  };
}

function newRollout(o: RolloutOptions, base: Pick<RolloutRecord, 'id' | 'kind' | 'from' | 'to'> & Who, at: string): RolloutRecord {
  return {
    ...base,
    state: 'running',
    canary: o.canary ?? 1,
    batch: o.batch ?? 1,
    ...(o.healthWaitMs === undefined ? {} : { health_wait_ms: o.healthWaitMs }),
    started_at: at,
  };
}

/**
 * The writes that start a rollout: its record, `desired`, and an empty set
 * of turns; guarded by the turns as read (no turn started or changed since).
 */
function startWrites(
  fleet: string,
  target: string,
  r: RolloutRecord,
  head: HeadRecord,
  turnsReadAt: string,
): Pick<Txn, 'puts' | 'deletePrefixes' | 'unchangedPrefixes'> {
  return {
    unchangedPrefixes: [{ prefix: turnsPrefix(fleet, target), readAt: turnsReadAt }],
    puts: [
      { key: headKey(fleet, target), value: JSON.stringify(head) },
      { key: desiredKey(fleet, target), value: JSON.stringify({ revision: r.to, rollout: r.id } satisfies DesiredRecord) },
      { key: rolloutKey(fleet, target), value: JSON.stringify(r) },
    ],
    deletePrefixes: [turnsPrefix(fleet, target)],
  };
}

/**
 * Stores `files` as the next revision of the target and starts its rollout,
 * in one etcd transaction guarded by the head key and the rollout record:
 * two pushes at once get two different numbers (the loser retries with the
 * next), and a push while a rollout runs, or while a host still applies a
 * turn of an earlier one, is refused (RolloutError).
 */
export async function storeRevision(
  store: ControlStore,
  files: readonly RevisionFile[],
  meta: PushMeta,
): Promise<{ revision: number; rollout: RolloutRecord }> {
  const { fleet, target } = meta;
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const st = await readState(store, fleet, target);
    refuseWhileBusy('push', st.record, target);
    refuseWhileApplying('push', st.applying, target, st.record);
    const revision = st.last + 1;
    const seq = st.rollouts + 1;
    const created_at = new Date().toISOString();
    const manifest = buildManifest({ fleet, target, revision, created_at, author: meta.author, message: meta.message }, files, meta.key);
    const rollout = newRollout(
      meta.rollout ?? {},
      { id: `${target}-${seq}`, kind: 'push', from: st.current, to: revision, author: meta.author, message: meta.message },
      created_at,
    );
    const w = startWrites(fleet, target, rollout, { revision, rollouts: seq }, st.turnsReadAt);
    const res = await store.txn({
      compares: [
        { key: headKey(fleet, target), modRevision: st.head?.modRevision ?? '0' },
        { key: rolloutKey(fleet, target), modRevision: st.rollout?.modRevision ?? '0' },
      ],
      puts: [{ key: revisionKey(fleet, target, revision), value: encodeRevision({ manifest, files: [...files] }) }, ...w.puts],
      deletePrefixes: w.deletePrefixes,
      unchangedPrefixes: w.unchangedPrefixes,
    });
    if (res.succeeded) return { revision, rollout };
  }
  throw new RevisionError(`could not allocate a revision number for ${target}: other pushes kept winning; try again`);
}

/**
 * A new rollout to an earlier revision (default: the revision the latest
 * rollout started from), in the same order and with the same gates as a
 * push. Refused while a rollout runs or a host still applies an earlier
 * turn, and for a revision that is not stored.
 */
export async function startRollback(
  store: ControlStore,
  fleet: string,
  target: string,
  o: Who & { to?: number | undefined; rollout?: RolloutOptions | undefined },
): Promise<RolloutRecord> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const st = await readState(store, fleet, target);
    refuseWhileBusy('rollback', st.record, target);
    refuseWhileApplying('rollback', st.applying, target, st.record);
    if (!st.record) throw new RolloutError(`nothing to roll back: ${target} has had no rollout`);
    const to = o.to ?? st.record.from;
    if (!Number.isInteger(to) || to < 1 || to > st.last)
      throw new RolloutError(`rollback refused: ${target} has no revision ${to} (revisions 1 to ${st.last} are stored)`, st.record.id);
    if (!(await store.get(revisionKey(fleet, target, to))))
      throw new RolloutError(`rollback refused: revision ${to} of ${target} is no longer stored`, st.record.id);
    const seq = st.rollouts + 1;
    const rollout = newRollout(
      o.rollout ?? {},
      { id: `${target}-${seq}`, kind: 'rollback', from: st.current, to, author: o.author, message: o.message || `rollback to revision ${to}` },
      new Date().toISOString(),
    );
    const res = await store.txn({
      compares: [
        { key: headKey(fleet, target), modRevision: st.head?.modRevision ?? '0' },
        { key: rolloutKey(fleet, target), modRevision: st.rollout?.modRevision ?? '0' },
      ],
      ...startWrites(fleet, target, rollout, { revision: st.last, rollouts: seq }, st.turnsReadAt),
    });
    if (res.succeeded) return rollout;
  }
  throw new RolloutError(`rollback of ${target}: the rollout kept changing; try again`);
}

const ALLOWED: Record<RolloutCommand, { from: readonly RolloutRecord['state'][]; to: RolloutRecord['state'] }> = {
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  abort: { from: ['running', 'paused'], to: 'aborted' },
};

/**
 * Pause (no host starts; the ones applying finish), resume, or abort (stops
 * for good) the target's rollout. Guarded by the rollout record as read: a
 * driver's transition in between is read again and the command re-checked.
 */
export async function steerRollout(store: ControlStore, fleet: string, target: string, command: RolloutCommand, who: string): Promise<RolloutRecord> {
  const rule = ALLOWED[command];
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const kv = await store.get(rolloutKey(fleet, target));
    const r = parseJson<RolloutRecord>(kv);
    if (!kv || !r) throw new RolloutError(`nothing to ${command}: ${target} has had no rollout`);
    if (!rule.from.includes(r.state)) throw new RolloutError(`cannot ${command} rollout ${r.id} of ${target}: it is ${r.state}`, r.id);
    const at = new Date().toISOString();
    const next: RolloutRecord = {
      ...r,
      state: rule.to,
      ...(command === 'abort' ? { reason: { host: '', step: 'abort', message: `aborted by ${who}` }, ended_at: at } : {}),
    };
    const res = await store.txn({
      compares: [{ key: rolloutKey(fleet, target), modRevision: kv.modRevision }],
      puts: [{ key: rolloutKey(fleet, target), value: JSON.stringify(next) }],
    });
    if (res.succeeded) return next;
  }
  throw new RolloutError(`${command} of ${target}: the rollout kept changing; try again`);
}
