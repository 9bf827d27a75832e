// The status page's event stream under load, on the real daemon (the built
// dist/cli.js): 200 clients on GET /events at once plus one that sends its
// request and never reads a byte, while passes run back to back over the
// admin socket. Measured: the daemon's RSS (sampled from /proc), whether
// every reading client got every pass, how late, whether the stuck client
// was dropped, and `status` latency over the socket against the same daemon
// with no stream open.
import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { sendAdminCommand } from '../../src/admin/client.js';
import { ensureCliBundle, spawnDaemon } from '../daemon-process.js';
import { percentile, round, until, type BenchRow, type BenchSuite } from '../harness.js';
import { rssMb } from './daemon.js';

const READERS = 200;

interface Reader {
  passes: number;
  /** ms from a pass's end (its ended_at) to its arrival here. */
  lags: number[];
}

/** One GET /events reader that counts pass events (no full JSON parse: 200 of them share the bench's CPU). */
function openReader(port: number, r: Reader): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/events', agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET /events: ${res.statusCode}`));
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          if (!block.startsWith('event: pass\n')) continue;
          r.passes += 1;
          const m = /"ended_at":"([^"]+)"/.exec(block);
          if (m) r.lags.push(Date.now() - Date.parse(m[1]!));
        }
      });
      resolve(() => req.destroy());
    });
    req.on('error', reject);
  });
}

async function statusLatencies(socket: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await sendAdminCommand(socket, 'status', { timeoutMs: 10_000 });
    out.push(performance.now() - t0);
  }
  return out;
}

export const eventsSuite: BenchSuite = {
  name: 'events',
  description: 'status page event stream: 200 readers + 1 stuck client on the daemon while passes run; RSS, delivery, status latency',
  async run(ctx) {
    ensureCliBundle(ctx.log);
    const dir = ctx.tmp('events');
    const socket = join(dir, 'admin.sock');
    const config = join(dir, 'reloadkit.yaml');
    writeFileSync(join(dir, 'app.conf'), 'x\n');
    writeFileSync(
      config,
      `state_dir: ./state\nadmin:\n  socket: ./admin.sock\n  http: 127.0.0.1:0\ntargets:\n  app:\n    kind: command\n    reload: ["true"]\n    watch: [app.conf]\n`,
    );
    const daemon = spawnDaemon(config);
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    const closers: (() => void)[] = [];
    let stuck: Socket | null = null;
    try {
      const line = await daemon.waitForLine((l) => l.msg === 'admin HTTP listening', 'the HTTP address');
      const port = Number(String(line.http).split(':').pop());
      await daemon.waitForLine((l) => l.msg === 'reloadkit started', 'start');
      const pid = daemon.proc.pid!;

      const durMs = ctx.quick ? 3000 : 15_000;
      /** Passes back to back over the socket for durMs, `status` timed in between; RSS sampled. */
      const phase = async (): Promise<{ passes: number; status: number[]; peak: number }> => {
        let passes = 0;
        let peak = rssMb(pid);
        const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 100);
        const status: number[] = [];
        const end = performance.now() + durMs;
        const driver = (async () => {
          while (performance.now() < end) {
            await sendAdminCommand(socket, 'reload app', { timeoutMs: 30_000 });
            passes += 1;
          }
        })();
        while (performance.now() < end) status.push(...(await statusLatencies(socket, 10)));
        await driver;
        clearInterval(sampler);
        return { passes, status, peak };
      };

      // Baseline: the same daemon and the same passes, no stream open.
      const rssBefore = rssMb(pid);
      ctx.log('passes without any event stream');
      const base = await phase();
      const quiet = base.status;

      ctx.log(`opening ${READERS} event readers and one that never reads`);
      const readers: Reader[] = Array.from({ length: READERS }, () => ({ passes: 0, lags: [] }));
      for (const r of readers) closers.push(await openReader(port, r));
      stuck = connect(port, '127.0.0.1');
      stuck.on('error', () => {});
      stuck.write('GET /events HTTP/1.1\r\nhost: bench\r\n\r\n');
      stuck.pause();
      ctx.log('the same passes with the streams open');
      const withStreams = await phase();
      const { passes, peak } = withStreams;
      const loaded = withStreams.status;
      await until(() => readers.every((r) => r.passes >= passes), 'every reader to get every pass', 30_000).catch(() => {});
      const rssAfter = rssMb(pid);
      const got = Math.min(...readers.map((r) => r.passes));
      const lags = readers.flatMap((r) => r.lags);
      const dropped = daemon.lines.find((l) => l.msg === 'event client dropped: it stopped reading');

      const statusRow = (p: number): BenchRow => ({
        metric: `status p${p} over the socket, with 201 streams and passes running`,
        value: round(percentile(loaded, p), 2),
        unit: 'ms',
        baseline: round(percentile(quiet, p), 2),
        baselineName: 'same daemon and passes, no stream',
        ratio: round(percentile(loaded, p) / percentile(quiet, p), 2),
      });
      rows.push(
        { metric: `event readers connected at once (plus 1 that never reads)`, value: READERS, unit: 'clients' },
        { metric: `passes run over the socket in ${durMs / 1000} s while they listen`, value: passes, unit: 'passes' },
        { metric: 'pass events received by the slowest reader', value: got, unit: `of ${passes}`, goal: 'all', pass: got === passes },
        { metric: 'pass event delivery, p50 (end of pass to arrival)', value: round(percentile(lags, 50), 1), unit: 'ms' },
        {
          metric: 'pass event delivery, p99',
          value: round(percentile(lags, 99), 1),
          unit: 'ms',
          goal: '<= 1000 ms (the page shows a pass within 1 s)',
          pass: percentile(lags, 99) <= 1000,
        },
        statusRow(50),
        { ...statusRow(99), goal: '<= 15 ms', pass: percentile(loaded, 99) <= 15 },
        { metric: 'daemon RSS at start', value: round(rssBefore, 1), unit: 'MB' },
        {
          metric: 'daemon RSS peak, passes with 201 streams open',
          value: round(peak, 1),
          unit: 'MB',
          baseline: round(base.peak, 1),
          baselineName: 'peak, the same passes without streams',
          ratio: round(peak / base.peak, 2),
          goal: '<= baseline + 32 MB (256 clients x 128 KiB queue)',
          pass: peak <= base.peak + 32,
        },
        { metric: 'daemon RSS after', value: round(rssAfter, 1), unit: 'MB' },
        {
          metric: 'stuck client dropped (its queue passed 128 KiB)',
          value: dropped ? 1 : 0,
          unit: dropped ? `yes, at ${Math.round(Number(dropped.queued_bytes) / 1024)} KiB queued` : 'no (still within the kernel socket buffers)',
        },
      );
      notes.push('readers run in the bench process, the daemon in its own; both share the 2-core machine');
    } finally {
      for (const c of closers) c();
      stuck?.destroy();
      await daemon.stop();
    }
    return { rows, notes, series: [] };
  },
};
