// What one service manager notification costs: the daemon's sender runs
// systemd-notify, which waits (its barrier) until the receiving socket has
// read the message, here a stand-in for systemd that reads and acknowledges
// like it (test/helpers/notify-listener.py). Baselines in the same run: the
// floor of any sender that spawns a process (`true`), and systemd-notify
// without the barrier (--no-block, the variant that can lose a message).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { NotifySender } from '../../src/daemon/notify.js';
import { noopLogger } from '../../src/shared/logger.js';
import { startNotifyListener } from '../../test/helpers/notify-listener.js';
import { median, percentile, round, type BenchRow, type BenchSuite } from '../harness.js';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: 'ignore' });
    p.once('error', reject);
    p.once('close', () => resolve());
  });
}

async function samples(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 10; i += 1) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

export const notifySuite: BenchSuite = {
  name: 'notify',
  description: 'one service manager notification (systemd-notify with its barrier) against spawning `true` and systemd-notify --no-block',
  async run(bench) {
    const n = bench.quick ? 50 : 300;
    const listener = await startNotifyListener(join(bench.tmp(), 'notify.sock'));
    try {
      const env = { NOTIFY_SOCKET: listener.address, PATH: process.env.PATH ?? '/usr/bin:/bin' };
      const sender = new NotifySender(listener.address, { pid: process.pid, logger: noopLogger });
      const ours = await samples(n, () => {
        sender.send('status', ['STATUS=bench']);
        return sender.flush(10_000);
      });
      const floor = await samples(n, () => run('true', [], env));
      const noBlock = await samples(n, () => run('systemd-notify', ['--no-block', `--pid=${process.pid}`, 'STATUS=bench'], env));
      if (sender.failed > 0) throw new Error(`${sender.failed} notifications failed`);
      const rows: BenchRow[] = [
        {
          metric: 'notification, send to read by the manager, median',
          value: round(median(ours)),
          unit: 'ms',
          baseline: round(median(floor)),
          baselineName: 'spawn `true`',
          ratio: round(median(ours) / median(floor), 2),
        },
        { metric: 'notification p99', value: round(percentile(ours, 99)), unit: 'ms', baseline: round(percentile(floor, 99)), baselineName: 'spawn `true`' },
        {
          metric: 'systemd-notify --no-block median (no barrier)',
          value: round(median(noBlock)),
          unit: 'ms',
          baseline: round(median(ours)),
          baselineName: 'with the barrier',
          ratio: round(median(noBlock) / median(ours), 2),
        },
      ];
      return {
        rows,
        notes: [
          `${n} notifications each, one at a time; the daemon sends a few per reload and one watchdog ping per half WATCHDOG_USEC (every 30 s with the shipped unit)`,
        ],
      };
    } finally {
      listener.close();
    }
  },
};
