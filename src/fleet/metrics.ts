// The fleet's Prometheus metrics, registered next to the daemon's own:
//   reloadkit_fleet_connected                     1 while this host reaches etcd
//   reloadkit_fleet_revision{target}              the revision this host's files are at
//   reloadkit_fleet_rollouts_total{target,result} revisions this host applied, by result (done, failed, drift)
//   reloadkit_fleet_hosts{state}                  hosts of the fleet this host sees: alive, and lost (gone since it started)
import type { Registry } from 'prom-client';

const ROLLOUT_RESULTS = ['done', 'failed', 'drift'] as const;
type RolloutResult = (typeof ROLLOUT_RESULTS)[number];

/** What the agent reports; a no-op until the daemon's registry exists. */
export interface FleetMetricsSink {
  connected(up: boolean): void;
  revision(target: string, revision: number): void;
  rollout(target: string, result: RolloutResult): void;
  hosts(alive: number, lost: number): void;
}

export const noopFleetMetrics: FleetMetricsSink = { connected() {}, revision() {}, rollout() {}, hosts() {} };

/** Registers the fleet metrics in `registry` (labels pre-created at 0 for `targets`). */
export async function createFleetMetrics(registry: Registry, targets: readonly string[]): Promise<FleetMetricsSink> {
  const prom = await import('prom-client');
  const registers = [registry];
  const connected = new prom.Gauge({ name: 'reloadkit_fleet_connected', help: 'Whether this host reaches etcd (1) or not (0).', registers });
  const revision = new prom.Gauge({
    name: 'reloadkit_fleet_revision',
    help: "The fleet revision this host's files of the target are at.",
    labelNames: ['target'],
    registers,
  });
  const rollouts = new prom.Counter({
    name: 'reloadkit_fleet_rollouts_total',
    help: 'Fleet revisions this host applied, by target and result (done, failed, drift).',
    labelNames: ['target', 'result'],
    registers,
  });
  const hosts = new prom.Gauge({
    name: 'reloadkit_fleet_hosts',
    help: 'Hosts of the fleet: alive, and lost (gone since this host started).',
    labelNames: ['state'],
    registers,
  });
  connected.set(0);
  for (const t of targets) {
    revision.set({ target: t }, 0);
    for (const result of ROLLOUT_RESULTS) rollouts.inc({ target: t, result }, 0);
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
  };
}
