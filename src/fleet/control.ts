// Starting and steering rollouts: push (store revision N and start its
// rollout), rollback (a new rollout to an earlier revision), pause, resume
// and abort. Each is one etcd transaction guarded by the records it read,
// so two pushes at once get two numbers, and a push while a rollout runs
// is refused (naming it) without writing anything.
import type { KeyObject } from 'node:crypto';
import type { KeyValue, Txn, TxnResult } from '../etcd/client.js';
import { RevisionError, RolloutError } from '../shared/errors.js';
import { currentKey, desiredKey, headKey, revisionKey, rolloutKey, turnsPrefix } from './keys.js';
import { parseJson, type DesiredRecord, type RolloutRecord } from './records.js';
import { buildManifest, encodeRevision, type RevisionFile } from './revisions.js';
import type { RolloutCommand } from '../shared/fleet-commands.js';

/** What the rollout commands need of etcd (EtcdStore; an in-memory store in tests). */
export interface ControlStore {
  get(key: string): Promise<KeyValue | null>;
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

async function readState(store: ControlStore, fleet: string, target: string) {
  const [head, rollout, current] = await Promise.all([
    store.get(headKey(fleet, target)),
    store.get(rolloutKey(fleet, target)),
    store.get(currentKey(fleet, target)),
  ]);
  const h = parseJson<HeadRecord>(head);
  return {
    head,
    last: h?.revision ?? 0,
    rollouts: h?.rollouts ?? h?.revision ?? 0,
    rollout,
    record: parseJson<RolloutRecord>(rollout),
    current: parseJson<{ revision: number }>(current)?.revision ?? 0,
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

/** The writes that start a rollout: its record, `desired`, and an empty set of turns. */
function startWrites(fleet: string, target: string, r: RolloutRecord, head: HeadRecord): Pick<Txn, 'puts' | 'deletePrefixes'> {
  return {
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
 * next), and a push while a rollout runs is refused (RolloutError).
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
    const revision = st.last + 1;
    const seq = st.rollouts + 1;
    const created_at = new Date().toISOString();
    const manifest = buildManifest({ fleet, target, revision, created_at, author: meta.author, message: meta.message }, files, meta.key);
    const rollout = newRollout(
      meta.rollout ?? {},
      { id: `${target}-${seq}`, kind: 'push', from: st.current, to: revision, author: meta.author, message: meta.message },
      created_at,
    );
    const w = startWrites(fleet, target, rollout, { revision, rollouts: seq });
    const res = await store.txn({
      compares: [
        { key: headKey(fleet, target), modRevision: st.head?.modRevision ?? '0' },
        { key: rolloutKey(fleet, target), modRevision: st.rollout?.modRevision ?? '0' },
      ],
      puts: [{ key: revisionKey(fleet, target, revision), value: encodeRevision({ manifest, files: [...files] }) }, ...w.puts],
      deletePrefixes: w.deletePrefixes,
    });
    if (res.succeeded) return { revision, rollout };
  }
  throw new RevisionError(`could not allocate a revision number for ${target}: other pushes kept winning; try again`);
}

/**
 * A new rollout to an earlier revision (default: the revision the latest
 * rollout started from), in the same order and with the same gates as a
 * push. Refused while a rollout runs, and for a revision that is not stored.
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
      ...startWrites(fleet, target, rollout, { revision: st.last, rollouts: seq }),
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
