// Fault: a 30-second soak against a real nginx (temp prefix, loopback port),
// driven by the built daemon. At once: random config edits (valid ones,
// ones `nginx -t` rejects, and ones that pass `nginx -t` but that the master
// cannot apply), SIGHUPs to the daemon, socket `reload`/`status` requests,
// and clients hammering nginx over HTTP. Every valid config serves a version
// marker; nginx may only ever serve a marker of a valid config, every HTTP
// and socket request must be answered, and the daemon's RSS stays bounded.
// RELOADKIT_SOAK_SECONDS overrides the 30 s for local runs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { renameSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DaemonHandle } from '../integration/daemon-process.js';
import { freePort, httpGet, nginxOrSkip, startTestNginx, type TestNginx } from '../integration/helpers.js';
import { cleanup, daemonDir, memoryOf, MiB, startBuiltDaemon, waitFor } from './support.js';

const skip = nginxOrSkip();
const SOAK_MS = Number(process.env.RELOADKIT_SOAK_SECONDS ?? 30) * 1000;
/** Clients hammering nginx at once. */
const HTTP_CLIENTS = 4;
/**
 * RSS bound: the end of the soak may be at most this much above the RSS after
 * a warm-up (start-up plus the first seconds, when code is compiled and the
 * heap grows to its working size). A steady daemon measured ~±5 MB here; 60 MB
 * is slack for GC timing on a loaded machine, not room for a leak: a leak of
 * one log line or result per pass would show as steady growth, checked below.
 */
const RSS_SLACK_KB = 60 * MiB;

const rand = (n: number) => Math.floor(Math.random() * n);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let nginx: TestNginx | null = null;
let holder: Server | null = null;
after(async () => {
  await cleanup();
  holder?.close();
  await nginx?.stop();
});

describe('30-second soak against real nginx', { skip }, () => {
  it('nginx serves only valid configs, every request is answered, the daemon RSS stays bounded', { timeout: SOAK_MS + 180_000 }, async () => {
    nginx = await startTestNginx('good-0');
    const n = nginx;
    const valid = new Set<string>(['good-0']);
    // A port the master cannot bind: a config using it passes `nginx -t` and fails at reload.
    const busy = await freePort();
    holder = createServer();
    await new Promise<void>((r) => holder!.listen(busy, '127.0.0.1', r));

    type Kind = 'good' | 'unknown-directive' | 'unclosed-block' | 'port-in-use';
    const variant = (kind: Kind, marker: string): [string, string] => {
      switch (kind) {
        case 'good':
          return [marker, ''];
        case 'unknown-directive':
          return [`${marker}";\n        no_such_directive 1;\n        #`, ''];
        case 'unclosed-block':
          return [marker, '    server {\n'];
        case 'port-in-use':
          return [marker, `    server { listen 127.0.0.1:${busy}; return 200 "x"; }\n`];
      }
    };
    // Each invalid kind is what it claims: `nginx -t` rejects the first two and accepts the third.
    const probe = join(n.prefix, 'probe.conf');
    const nginxT = (kind: Kind) => {
      const [body, extra] = variant(kind, 'probe');
      n.writeConfig(body, extra, probe);
      try {
        execFileSync('nginx', ['-t', '-q', '-p', `${n.prefix}/`, '-c', probe], { stdio: 'pipe' });
        return true;
      } catch {
        return false;
      }
    };
    assert.equal(nginxT('good'), true);
    assert.equal(nginxT('unknown-directive'), false);
    assert.equal(nginxT('unclosed-block'), false);
    assert.equal(nginxT('port-in-use'), true);

    const { socket, args } = daemonDir(
      'rk-fault-soak-',
      {},
      `  web:\n    kind: nginx\n    prefix: ${n.prefix}\n    config: ${n.conf}\n    watch: [${n.conf}]\n    timeout: 30s\n`,
    );
    const d: DaemonHandle = await startBuiltDaemon({ args, socket });
    const pid = d.proc.pid!;
    const startRss = memoryOf(pid).rssKb;

    const counts = { edits: { good: 0, 'unknown-directive': 0, 'unclosed-block': 0, 'port-in-use': 0 } as Record<Kind, number>, sighup: 0, socket: 0, http: 0 };
    const served = new Map<string, number>();
    const httpErrors: string[] = [];
    const socketErrors: string[] = [];
    const rss: number[] = [];
    const deadline = Date.now() + SOAK_MS;
    const running = () => Date.now() < deadline;

    const editor = async () => {
      for (let v = 1; running(); v += 1) {
        const r = rand(10);
        const kind: Kind = r < 6 ? 'good' : r < 7 ? 'unknown-directive' : r < 8 ? 'unclosed-block' : 'port-in-use';
        const marker = `${kind === 'good' ? 'good' : 'bad'}-${v}`;
        // Known valid before nginx could ever see it.
        if (kind === 'good') valid.add(marker);
        const [body, extra] = variant(kind, marker);
        if (rand(4) === 0) {
          n.writeConfig(body, extra); // in place, as `cat >` or an editor without atomic saves
        } else {
          const tmp = join(n.prefix, '.nginx.conf.tmp');
          n.writeConfig(body, extra, tmp);
          renameSync(tmp, n.conf);
        }
        counts.edits[kind] += 1;
        await sleep(50 + rand(350));
      }
    };
    const hupper = async () => {
      while (running()) {
        await sleep(500 + rand(1500));
        d.proc.kill('SIGHUP');
        counts.sighup += 1;
      }
    };
    const admin = async () => {
      while (running()) {
        const cmd = ['status', 'reload', 'reload web'][rand(3)]!;
        try {
          const reply = JSON.parse(await d.send(cmd)) as { status: string; results?: Record<string, { status: string }> };
          if (cmd === 'status' ? reply.status !== 'ok' : !['ok', 'error'].includes(reply.status) || !reply.results?.web) {
            socketErrors.push(`${cmd}: ${JSON.stringify(reply).slice(0, 300)}`);
          }
        } catch (err) {
          socketErrors.push(`${cmd}: ${(err as Error).message}`);
        }
        counts.socket += 1;
        await sleep(rand(200));
      }
    };
    const client = async () => {
      while (running()) {
        try {
          const res = await httpGet(n.port);
          served.set(res.body, (served.get(res.body) ?? 0) + 1);
          if (res.status !== 200) httpErrors.push(`status ${res.status}: ${res.body.slice(0, 100)}`);
        } catch (err) {
          httpErrors.push((err as Error).message);
        }
        counts.http += 1;
      }
    };
    const sampler = async () => {
      while (running()) {
        await sleep(1000);
        rss.push(memoryOf(pid).rssKb);
      }
    };
    await Promise.all([editor(), hupper(), admin(), sampler(), ...Array.from({ length: HTTP_CLIENTS }, client)]);
    holder.close();
    holder = null;

    // Still working after all that: a final valid config is served.
    valid.add('final');
    const tmp = join(n.prefix, '.nginx.conf.tmp');
    n.writeConfig('final', '', tmp);
    renameSync(tmp, n.conf);
    await waitFor(async () => (await httpGet(n.port)).body === 'final', 'the final config served', 60_000);
    const endRss = memoryOf(pid).rssKb;
    const passes = d.passes('web');
    const byStatus: Record<string, number> = {};
    for (const p of passes) byStatus[String(p.status)] = (byStatus[String(p.status)] ?? 0) + 1;
    assert.equal(await d.stop('SIGTERM'), 0);

    const invalidServed = [...served.keys()].filter((b) => !valid.has(b));
    const summary =
      `# soak ${SOAK_MS / 1000} s: edits ${JSON.stringify(counts.edits)}, ${counts.sighup} SIGHUPs, ${counts.socket} socket requests, ` +
      `${counts.http} HTTP requests (${served.size} distinct bodies); passes ${JSON.stringify(byStatus)}; ` +
      `RSS start ${(startRss / MiB).toFixed(1)} MB, samples ${rss.map((k) => (k / MiB).toFixed(0)).join(' ')}, end ${(endRss / MiB).toFixed(1)} MB\n`;
    process.stdout.write(summary);
    assert.deepEqual(invalidServed, [], 'nginx served content of a config that was not valid');
    assert.deepEqual(httpErrors, [], 'HTTP requests not answered with 200');
    assert.deepEqual(socketErrors, [], 'socket requests not answered');
    assert.ok(counts.http > 100 && counts.socket > 10 && counts.edits.good > 10, `enough load: ${summary}`);
    assert.ok((byStatus.validation_failed ?? 0) > 0 && (byStatus.full_success ?? 0) > 0, `both outcomes seen: ${summary}`);

    // Bounded: the end within the slack of the warmed-up RSS, and no steady climb
    // (the last third of the samples peaks no higher than the middle third + 20 MB).
    const warm = rss[Math.min(2, rss.length - 1)]!;
    assert.ok(endRss <= Math.max(startRss, warm) + RSS_SLACK_KB, `RSS grew from ${warm} to ${endRss} KiB`);
    const third = Math.floor(rss.length / 3);
    const middle = Math.max(...rss.slice(third, 2 * third));
    const last = Math.max(...rss.slice(2 * third));
    assert.ok(last <= middle + 20 * MiB, `RSS climbing: middle third peak ${middle} KiB, last third ${last} KiB`);
  });
});
