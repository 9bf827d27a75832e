// The daemon's side of the fleet, in one place: from the daemon config's
// `fleet:` sections to a started FleetAgent. Imported by the daemon only
// when its config has `fleet:`; etcd's client loads when the agent connects.
// (The agent itself, in src/fleet/, knows nothing of the daemon.)
import type { Registry } from 'prom-client';
import pkg from '../../package.json' with { type: 'json' };
import { FleetAgent } from '../fleet/agent.js';
import type { FleetTargetBinding } from '../fleet/apply.js';
import { createFleetMetrics } from '../fleet/metrics.js';
import type { Logger } from '../shared/types.js';
import type { DaemonConfig } from './config.js';
import type { Target } from './target.js';

/** Starts the agent for every target with `fleet:` (the agent connects in the background). */
export async function startFleetAgent(config: DaemonConfig, targets: ReadonlyMap<string, Target>, logger: Logger, registry?: Registry): Promise<FleetAgent> {
  const f = config.fleet!;
  const bindings: FleetTargetBinding[] = [];
  for (const [name, t] of targets) {
    const tf = t.definition.fleet;
    if (!tf) continue;
    bindings.push({
      name,
      dir: tf.dir,
      runPass: (trigger) => t.reload(trigger),
      configHash: () => t.unit.current().hash,
      ...(tf.health ? { health: { url: tf.health.url, forMs: tf.health.for_ms, intervalMs: tf.health.interval_ms, timeoutMs: tf.health.timeout_ms } } : {}),
      ...(t.definition.signature ? { publicKeyFile: t.definition.signature.public_key } : {}),
      stepTimeoutMs: t.definition.timeout_ms,
    });
  }
  const e = f.etcd;
  const agent = new FleetAgent({
    settings: {
      name: f.name,
      host: f.host,
      labels: f.labels,
      etcd: {
        endpoints: e.endpoints,
        timeoutMs: e.timeout_ms,
        leaseTtlMs: e.lease_ttl_ms,
        caFile: e.ca_file,
        certFile: e.cert_file,
        keyFile: e.key_file,
        username: e.username,
        passwordFile: e.password_file,
      },
    },
    targets: bindings,
    stateDir: config.state_dir,
    logger,
    version: pkg.version,
  });
  for (const b of bindings) targets.get(b.name)!.unit.observe({ commit: (snap) => agent.noteConfigHash(b.name, snap.hash) });
  if (registry)
    agent.metrics = await createFleetMetrics(
      registry,
      bindings.map((b) => b.name),
    );
  await agent.start();
  return agent;
}
