// The fleet's Prometheus metrics, registered next to the daemon's own:
//   reloadkit_fleet_connected                     1 while this host reaches etcd
//   reloadkit_fleet_revision{target}              the revision this host's files are at
//   reloadkit_fleet_rollouts_total{target,result} revisions this host applied, by result (done, failed, drift)
//   reloadkit_fleet_hosts{state}                  hosts of the fleet this host sees: alive, and lost (gone since it started)
//   reloadkit_fleet_rollout_state{target,state}   1 for the state of the target's latest rollout (running, paused, halted, done, aborted)
//   reloadkit_fleet_rollout_halted{target,host,step}  1 while the latest rollout is halted, labelled with the failing host and step
//   reloadkit_fleet_driver{target}                1 while this host drives the target's rollouts
import type { Registry } from 'prom-client';
import type { RolloutRecord } from './records.js';

const ROLLOUT_RESULTS = ['done', 'failed', 'drift'] as const;
type RolloutResult = (typeof ROLLOUT_RESULTS)[number];

/** What the agent reports; a no-op until the daemon's registry exists. */
export interface FleetMetricsSink {
  connected(up: boolean): void;
  revision(target: string, revision: number): void;
  rollout(target: string, result: RolloutResult): void;
  hosts(alive: number, lost: number): void;
  /** The target's latest rollout as every host sees it (null: none yet). */
  rolloutState(target: string, r: RolloutRecord | null): void;
  driver(target: string, driving: boolean): void;
}

export const noopFleetMetrics: FleetMetricsSink = { connected() {}, revision() {}, rollout() {}, hosts() {}, rolloutState() {}, driver() {} };

const ROLLOUT_STATES = ['running', 'paused', 'halted', 'done', 'aborted'] as const;

/** Registers the fleet metrics in `registry` (labels pre-created at 0 for `targets`). */
export async function createFleetMetrics(registry: Registry, targets: readonly string[]): Promise<FleetMetricsSink> {
  const prom = await import('prom-client');
  const registers = [registry];
  const gauge = (name: string, help: string, labelNames: string[] = []) => new prom.Gauge({ name, help, labelNames, registers });
  const connected = gauge('reloadkit_fleet_connected', 'Whether this host reaches etcd (1) or not (0).');
  const revision = gauge('reloadkit_fleet_revision', "The fleet revision this host's files of the target are at.", ['target']);
  const rollouts = new prom.Counter({
    name: 'reloadkit_fleet_rollouts_total',
    help: 'Fleet revisions this host applied, by target and result (done, failed, drift).',
    labelNames: ['target', 'result'],
    registers,
  });
  const hosts = gauge('reloadkit_fleet_hosts', 'Hosts of the fleet: alive, and lost (gone since this host started).', ['state']);
  const rolloutState = gauge('reloadkit_fleet_rollout_state', "1 for the state of the target's latest rollout (running, paused, halted, done, aborted).", [
    'target',
    'state',
  ]);
  const halted = gauge(
    'reloadkit_fleet_rollout_halted',
    'While the latest rollout of the target is halted: 1, labelled with the failing host and step (the message is in fleet status and the logs).',
    ['target', 'host', 'step'],
  );
  const driver = gauge('reloadkit_fleet_driver', "1 while this host drives the target's rollouts.", ['target']);
  const haltLabels = new Map<string, { target: string; host: string; step: string }>();
  connected.set(0);
  for (const t of targets) {
    revision.set({ target: t }, 0);
    for (const result of ROLLOUT_RESULTS) rollouts.inc({ target: t, result }, 0);
    for (const state of ROLLOUT_STATES) rolloutState.set({ target: t, state }, 0);
    driver.set({ target: t }, 0);
  }
  hosts.set({ state: 'alive' }, 0);
  hosts.set({ state: 'lost' }, 0);
  return {
    connected: (up) => connected.set(up ? 1 : 0),
    revision: (t, n) => revision.set({ target: t }, n),
    rollout: (t, result) => rollouts.inc({ target: t, result }),
    hosts: (alive, lost) => {
      hosts.set({ state: 'alive' }, alive);
      hosts.set({ state: 'lost' }, lost);
    },
    rolloutState: (t, r) => {
      for (const state of ROLLOUT_STATES) rolloutState.set({ target: t, state }, r?.state === state ? 1 : 0);
      const was = haltLabels.get(t);
      const now = r?.state === 'halted' && r.reason ? { target: t, host: r.reason.host, step: r.reason.step } : undefined;
      if (was && (!now || was.host !== now.host || was.step !== now.step)) halted.remove(was);
      if (now) halted.set(now, 1);
      if (now) haltLabels.set(t, now);
      else haltLabels.delete(t);
    },
    driver: (t, driving) => driver.set({ target: t }, driving ? 1 : 0),
  };
}
