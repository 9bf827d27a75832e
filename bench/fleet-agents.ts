// A process holding several fleet hosts for the 100-host benchmark: each
// one the daemon's own `command` target (check `true`, reload `true`) and
// fleet glue, with its own etcd client and lease (test/fleet/command-agent.ts).
//
//   node --import tsx bench/fleet-agents.ts '{"dir":…,"fleet":…,"endpoints":[…],"names":[…],"leaseTtl":"5s"}'
//
// Prints one JSON line {"ready":true} once every host is connected to etcd,
// then {"driving":[…]} whenever the set of hosts driving here changes;
// closes every host (leaving the fleet) on SIGTERM.
import { join } from 'node:path';
import { startCommandHost, type CommandHost } from '../test/fleet/command-agent.js';

interface Args {
  dir: string;
  fleet: string;
  endpoints: string[];
  names: string[];
  leaseTtl: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const hosts: CommandHost[] = [];
for (const name of args.names) {
  hosts.push(await startCommandHost({ name, dir: join(args.dir, name), fleet: args.fleet, endpoints: args.endpoints, leaseTtl: args.leaseTtl }));
}
while (!hosts.every((h) => h.agent.connected)) await new Promise((r) => setTimeout(r, 50));
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
let driving = '';
const poll = setInterval(() => {
  const now = hosts
    .filter((h) => h.agent.isDriving('app'))
    .map((h) => h.name)
    .join(',');
  if (now !== driving) {
    driving = now;
    process.stdout.write(`${JSON.stringify({ driving: now === '' ? [] : now.split(',') })}\n`);
  }
}, 100);
process.once('SIGTERM', () => {
  clearInterval(poll);
  void Promise.all(hosts.map((h) => h.close())).finally(() => process.exit(0));
});
