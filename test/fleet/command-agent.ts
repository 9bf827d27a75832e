// A fleet host in-process: the daemon's own pieces for one `command`
// target (its config parsed from YAML, the Target with its check and reload
// commands, the daemon's fleet glue starting the FleetAgent), without the
// rest of a daemon (no admin socket, no watcher). Several of these share a
// process in the tests of the agent's hooks and in the 100-host benchmark;
// each has its own etcd client and lease.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../../src/daemon/config.js';
import { startFleetAgent } from '../../src/daemon/fleet.js';
import { StateStore } from '../../src/daemon/state.js';
import { Target } from '../../src/daemon/target.js';
import type { FleetAgent } from '../../src/fleet/agent.js';
import type { Logger } from '../../src/shared/types.js';

export interface CommandHost {
  name: string;
  agent: FleetAgent;
  target: Target;
  /** Every log line (message and fields) the host wrote. */
  lines: Record<string, unknown>[];
  close(): Promise<void>;
}

export interface CommandHostOptions {
  name: string;
  /** A directory of its own. */
  dir: string;
  fleet: string;
  endpoints: readonly string[];
  leaseTtl?: string;
  /** The reload command (default `true`); the check is `true`. */
  reload?: string[];
  labels?: Record<string, string>;
  /** Also print every line to stderr (debugging). */
  echo?: boolean;
}

function collectingLogger(lines: Record<string, unknown>[], echo: boolean): Logger {
  const log =
    (level: string) =>
    (a: unknown, b?: unknown): void => {
      const line = typeof a === 'string' ? { level, msg: a } : { level, ...(a as object), msg: b };
      lines.push({ time: Date.now(), ...line });
      if (lines.length > 5000) lines.splice(0, 1000);
      if (echo) process.stderr.write(`${JSON.stringify(line)}\n`);
    };
  return { debug: () => {}, info: log('info'), warn: log('warn'), error: log('error') } as Logger;
}

export async function startCommandHost(o: CommandHostOptions): Promise<CommandHost> {
  const fleetDir = join(o.dir, 'fleet');
  mkdirSync(fleetDir, { recursive: true });
  writeFileSync(join(fleetDir, 'app.conf'), 'revision 0\n');
  const yaml = `state_dir: ${o.dir}/state
fleet:
  name: ${o.fleet}
  host: ${o.name}
  labels: ${JSON.stringify(o.labels ?? {})}
  etcd: { endpoints: [${o.endpoints.join(', ')}], lease_ttl: ${o.leaseTtl ?? '5s'}, timeout: 2s }
targets:
  app:
    kind: command
    check: ["true"]
    reload: ${JSON.stringify(o.reload ?? ['true'])}
    watch: [${fleetDir}]
    fleet: { dir: ${fleetDir} }
`;
  const config = parseConfigText(yaml, join(o.dir, 'reloadkit.yaml'));
  const lines: Record<string, unknown>[] = [];
  const logger = collectingLogger(lines, o.echo ?? false);
  const target = new Target('app', config.targets.app!, { logger, state: new StateStore(config.state_dir) });
  await target.start();
  const agent = await startFleetAgent(config, new Map([['app', target]]), logger);
  return {
    name: o.name,
    agent,
    target,
    lines,
    async close() {
      await agent.close();
      await target.unit.close();
    },
  };
}
