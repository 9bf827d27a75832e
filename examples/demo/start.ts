// `npm start`: the reload daemon on a bundled demo that needs no system
// package. Starts a tiny HTTP service and `reloadkit run` (from source, no
// build), prints what to edit and how to query status; Ctrl-C stops both.
//
// The demo directory is .tmp/demo (or $RELOADKIT_DEMO_DIR); it is recreated
// on every start.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const here = fileURLToPath(new URL('.', import.meta.url));
const dir = resolve(process.env.RELOADKIT_DEMO_DIR || join(root, '.tmp', 'demo'));
const shown = (p: string) => (relative(process.cwd(), p).startsWith('..') ? p : relative(process.cwd(), p) || '.');

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
for (const f of ['reloadkit.yaml', 'service.mjs', 'check-banner.mjs', 'publish-banner.mjs']) copyFileSync(join(here, f), join(dir, f));
writeFileSync(join(dir, 'service.json'), `${JSON.stringify({ greeting: 'hello', from: 'the reloadkit demo' }, null, 2)}\n`);
writeFileSync(join(dir, 'banner.txt'), 'Welcome! Edit banner.txt and watch it go live.\n');

const children: ChildProcess[] = [];
let stopping = false;
const stopAll = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGTERM');
        }),
    ),
  );
  process.exit(code);
};
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

const port = await freePort();
const service = spawn(process.execPath, [join(dir, 'service.mjs'), dir, String(port)], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
children.push(service);
await until(() => existsSync(join(dir, 'service.pid')), 'the demo service');

const daemon = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts'), 'run', '-c', join(dir, 'reloadkit.yaml')], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, RELOADKIT_CONFIG: '', RELOADKIT_SOCKET: '', RELOADKIT_HTTP: '' },
});
children.push(daemon);
for (const c of children) {
  c.once('exit', (code) => {
    if (!stopping) {
      console.error(`demo: ${c === daemon ? 'reloadkit' : 'the service'} exited (${code ?? 'signal'}); stopping`);
      void stopAll(1);
    }
  });
}

let httpAddress = '';
let started = false;
let buf = '';
daemon.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
  buf += chunk;
  for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    process.stdout.write(`${line}\n`);
    try {
      const j = JSON.parse(line) as { msg?: string; http?: string };
      if (j.msg === 'reloadkit started') {
        httpAddress = j.http ?? '';
        started = true;
      }
    } catch {
      // not a log line
    }
  }
});
await until(() => started, 'reloadkit to start');

const cli = `npx tsx ${shown(join(root, 'src', 'cli', 'main.ts'))}`;
const sock = shown(join(dir, 'admin.sock'));
process.stdout.write(`
reloadkit demo is running (Ctrl-C stops it). Log lines above and below are reloadkit's JSON logs.

  the service      http://127.0.0.1:${port}/         greeting from ${shown(join(dir, 'service.json'))}
                   http://127.0.0.1:${port}/banner   published from ${shown(join(dir, 'banner.txt'))}
  reloadkit HTTP   http://${httpAddress}/status  /metrics  /ready  /reload-status
  admin socket     ${sock}

Try:
  1. Change "greeting" in ${shown(join(dir, 'service.json'))}: reloadkit sends SIGHUP to the service.
       curl http://127.0.0.1:${port}/
  2. Put TODO in ${shown(join(dir, 'banner.txt'))}: the check refuses it (validation_failed), nothing is published.
     Fix it: it goes live.   curl http://127.0.0.1:${port}/banner
  3. Ask the daemon:
       ${cli} status --socket ${sock}
       ${cli} reload --socket ${sock}          (exit code 0 only when every unit reloaded)
  4. Edit ${shown(join(dir, 'reloadkit.yaml'))} (add a target, change log_level): applied live.

socket: ${join(dir, 'admin.sock')}
`);
