// The fleet's status as `reloadkit fleet status --json` and `GET /fleet`
// show it, built from what hosts publish and what pushes stored:
//   {"fleet","connected",
//    "hosts":{"<host>":{"alive","labels","version","targets":{"<t>":{"revision","status","config_hash"}}}},
//    "targets":{"<t>":{"revision","desired","rollout":{"id","from","to","state","reason","hosts":{"<host>":"pending|applying|done|failed|lost"}}}}}
import type { EtcdStore } from '../etcd/client.js';
import { hostsPrefix, parseHostKey, parseTargetKey, targetsPrefix } from './keys.js';
import type { DesiredRecord, RolloutRecord } from './revisions.js';

/** A target's state on one host. */
type HostTargetStatus = 'idle' | 'applying' | 'done' | 'failed' | 'drift';

export interface HostTargetState {
  /** The revision the host's files are at (0: none from the fleet yet). */
  revision: number;
  status: HostTargetStatus;
  config_hash: string;
  /** The revision the last apply was for (differs from `revision` after a failure). */
  attempted?: number;
  reason?: string;
  /** When the status last changed (RFC 3339). */
  at: string;
}

/** What a host publishes under `hosts/<host>` (attached to its lease). */
export interface HostRecord {
  host: string;
  labels: Record<string, string>;
  version: string;
  started_at: string;
  targets: Record<string, HostTargetState>;
}

type RolloutState = 'running' | 'paused' | 'halted' | 'done' | 'aborted';
type RolloutHostState = 'pending' | 'applying' | 'done' | 'failed' | 'lost';

export interface RolloutStatus {
  id: string;
  from: number;
  to: number;
  state: RolloutState;
  reason?: string;
  author: string;
  message: string;
  started_at: string;
  hosts: Record<string, RolloutHostState>;
}

interface TargetStatus {
  /** The fleet's current revision: the last one a rollout completed (0: none). */
  revision: number;
  desired: number;
  rollout: RolloutStatus | null;
}

export interface FleetStatus {
  fleet: string;
  connected: boolean;
  hosts: Record<string, { alive: boolean; labels: Record<string, string>; version: string; targets: Record<string, HostTargetState> }>;
  targets: Record<string, TargetStatus>;
  /** Why the status could not be read (only when `connected` is false). */
  error?: string;
}

function parse<T>(value: Buffer): T | null {
  try {
    return JSON.parse(value.toString('utf8')) as T;
  } catch {
    return null;
  }
}

/**
 * A rollout's state from the hosts' reports. In this version every host
 * applies a new revision as soon as it sees it: the rollout is `running`
 * while a live host has not finished, then `done` when every host is on
 * it, or `halted` (with the first failure as the reason) when one failed.
 */
export function rolloutStatus(r: RolloutRecord, hosts: FleetStatus['hosts'], target: string): RolloutStatus {
  const states: Record<string, RolloutHostState> = {};
  let reason: string | undefined;
  for (const [name, h] of Object.entries(hosts).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const t = h.targets[target];
    if (!t) continue;
    let s: RolloutHostState;
    if (t.revision === r.to && (t.status === 'done' || t.status === 'idle')) s = 'done';
    else if ((t.attempted ?? t.revision) === r.to && (t.status === 'failed' || t.status === 'drift')) s = 'failed';
    else if ((t.attempted ?? t.revision) === r.to && t.status === 'applying') s = 'applying';
    else s = 'pending';
    if (!h.alive && s !== 'done' && s !== 'failed') s = 'lost';
    if (s === 'failed' && reason === undefined) reason = `${name}: ${t.reason ?? t.status}`;
    states[name] = s;
  }
  const values = Object.values(states);
  const finished = values.every((s) => s === 'done' || s === 'failed' || s === 'lost');
  const state: RolloutState = !finished ? 'running' : reason !== undefined ? 'halted' : 'done';
  return {
    id: r.id,
    from: r.from,
    to: r.to,
    state,
    ...(reason === undefined ? {} : { reason }),
    author: r.author,
    message: r.message,
    started_at: r.started_at,
    hosts: states,
  };
}

/** Reads the whole status from etcd (two range reads). Hosts whose lease expired are absent. */
export async function readFleetStatus(store: EtcdStore, fleet: string, only?: string): Promise<FleetStatus> {
  const [hostKvs, targetKvs] = await Promise.all([store.getPrefix(hostsPrefix(fleet)), store.getPrefix(targetsPrefix(fleet))]);
  const hosts: FleetStatus['hosts'] = {};
  for (const kv of hostKvs) {
    const name = parseHostKey(fleet, kv.key);
    const rec = name === null ? null : parse<HostRecord>(kv.value);
    if (name === null || rec === null) continue;
    const targets = only === undefined ? rec.targets : Object.fromEntries(Object.entries(rec.targets).filter(([t]) => t === only));
    hosts[name] = { alive: true, labels: rec.labels ?? {}, version: rec.version ?? '', targets };
  }
  const desired = new Map<string, DesiredRecord>();
  const rollouts = new Map<string, RolloutRecord>();
  for (const kv of targetKvs) {
    const k = parseTargetKey(fleet, kv.key);
    if (!k || (only !== undefined && k.target !== only)) continue;
    if (k.kind === 'desired') {
      const d = parse<DesiredRecord>(kv.value);
      if (d) desired.set(k.target, d);
    } else if (k.kind === 'rollout') {
      const r = parse<RolloutRecord>(kv.value);
      if (r) rollouts.set(k.target, r);
    }
  }
  const targets: FleetStatus['targets'] = {};
  for (const [t, d] of [...desired].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const r = rollouts.get(t);
    const rollout = r ? rolloutStatus(r, hosts, t) : null;
    const revision = rollout === null ? d.revision : rollout.state === 'done' ? rollout.to : rollout.from;
    targets[t] = { revision, desired: d.revision, rollout };
  }
  return { fleet, connected: true, hosts, targets };
}
