// The fleet's status as `reloadkit fleet status --json` and `GET /fleet`
// show it: what hosts publish, and each target's rollout as the state
// machine in etcd holds it:
//   {"fleet","connected",
//    "hosts":{"<host>":{"alive","labels","version","targets":{"<t>":{"revision","status","config_hash"}}}},
//    "targets":{"<t>":{"revision","desired","driver","rollout":{"id","from","to","state","reason","hosts":{"<host>":"pending|applying|done|failed|lost"}}}}}
import type { EtcdStore } from '../etcd/client.js';
import { allTurnsPrefix, hostsPrefix, parseHostKey, parseTargetKey, targetsPrefix } from './keys.js';
import type { HaltReason, HostRecord, HostTargetState, RolloutRecord, RolloutState } from './records.js';
import { KvCache, participants, rolloutView, type HostRolloutState, type RolloutView } from './rollout.js';

export interface RolloutStatus {
  id: string;
  kind: RolloutRecord['kind'];
  from: number;
  to: number;
  state: RolloutState;
  /** Why it halted or was aborted, in one line: `host: step: message`. */
  reason?: string;
  /** The same, as fields (halted only). */
  failure?: HaltReason;
  author: string;
  message: string;
  started_at: string;
  ended_at?: string;
  canary: number;
  batch: number;
  health_wait_ms?: number;
  /** The canary hosts (empty until the driver's first step). */
  canaries: string[];
  hosts: Record<string, HostRolloutState>;
  /** How many hosts are in each state. */
  counts: Record<HostRolloutState, number>;
}

interface TargetStatus {
  /** The fleet's current revision: the last one a rollout completed (0: none). */
  revision: number;
  /** The revision of the latest rollout. */
  desired: number;
  /** The host driving the target's rollouts (null: none now; one takes over within the lease TTL). */
  driver: string | null;
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

/** `reason` of a rollout in one line. */
function reasonText(r: HaltReason): string {
  if (r.step === 'abort') return r.message;
  return `${r.host ? `${r.host}: ` : ''}${r.step}: ${r.message}`;
}

/** A rollout as the status shows it: its record, and where each host taking part stands. */
export function rolloutStatus(v: RolloutView, r: RolloutRecord): RolloutStatus {
  const hosts: Record<string, HostRolloutState> = {};
  const counts: Record<HostRolloutState, number> = { pending: 0, applying: 0, done: 0, failed: 0, lost: 0 };
  for (const p of participants(v, r)) {
    // A done rollout has nothing pending: a host that joined after it converges on its own.
    if (r.state === 'done' && p.state === 'pending') continue;
    hosts[p.host] = p.state;
    counts[p.state] += 1;
  }
  return {
    id: r.id,
    kind: r.kind ?? 'push',
    from: r.from,
    to: r.to,
    state: r.state,
    ...(r.reason ? { reason: reasonText(r.reason) } : {}),
    ...(r.reason && r.state === 'halted' ? { failure: r.reason } : {}),
    author: r.author,
    message: r.message,
    started_at: r.started_at,
    ...(r.ended_at ? { ended_at: r.ended_at } : {}),
    canary: r.canary,
    batch: r.batch,
    ...(r.health_wait_ms === undefined ? {} : { health_wait_ms: r.health_wait_ms }),
    canaries: r.canaries ?? [],
    hosts,
    counts,
  };
}

/** Reads the whole status from etcd (three range reads). Hosts whose lease expired are absent. */
export async function readFleetStatus(store: EtcdStore, fleet: string, only?: string): Promise<FleetStatus> {
  const cache = new KvCache();
  const prefixes = [hostsPrefix(fleet), targetsPrefix(fleet), allTurnsPrefix(fleet)];
  const reads = await Promise.all(prefixes.map((p) => store.rangePrefix(p)));
  reads.forEach((r, i) => cache.applyRange(prefixes[i]!, r.kvs, r.revision));
  return fleetStatusFrom(cache, fleet, only);
}

/** The status from what `cache` holds of `hosts/`, `targets/` and `turns/`. */
export function fleetStatusFrom(cache: KvCache, fleet: string, only?: string): FleetStatus {
  const hosts: FleetStatus['hosts'] = {};
  for (const [key, rec] of cache.jsonUnder<HostRecord>(hostsPrefix(fleet))) {
    const name = parseHostKey(fleet, key);
    if (name === null) continue;
    const all = rec.value.targets ?? {};
    const targets = only === undefined ? all : Object.fromEntries(Object.entries(all).filter(([t]) => t === only));
    hosts[name] = { alive: true, labels: rec.value.labels ?? {}, version: rec.value.version ?? '', targets };
  }
  const names = new Set<string>();
  for (const [key] of cache.jsonUnder(targetsPrefix(fleet))) {
    const k = parseTargetKey(fleet, key);
    if (k && (k.kind === 'desired' || k.kind === 'rollout') && (only === undefined || k.target === only)) names.add(k.target);
  }
  const targets: FleetStatus['targets'] = {};
  for (const t of [...names].sort()) {
    const v = rolloutView(cache, fleet, t);
    const r = v.rollout?.value ?? null;
    const desired = cache.json<{ revision: number }>(`${targetsPrefix(fleet)}${t}/desired`)?.value.revision ?? r?.to ?? 0;
    targets[t] = {
      revision: v.current?.value.revision ?? 0,
      desired,
      driver: v.driver?.value.host ?? null,
      rollout: r ? rolloutStatus(v, r) : null,
    };
  }
  return { fleet, connected: true, hosts, targets };
}
