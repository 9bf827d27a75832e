// `npm start` smoke test: the bundled demo starts (daemon from source, no
// build, no system package), answers `status`, reloads the service on an
// edit, refuses a banner its check rejects, and stops cleanly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { sendAdminCommand } from '../../src/admin/client.js';
import { isRunning } from '../../src/daemon/targets/proc.js';
import { ROOT } from './daemon-process.js';
import { httpGet, waitFor } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rk-demo-'));
after(() => rmSync(dir, { recursive: true, force: true }));

it('npm start: the demo runs, answers status, reloads on edits, and stops with exit 0', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, RELOADKIT_DEMO_DIR: join(dir, 'demo') };
  // What `npm start` runs (package.json "start"), without npm's own wrapper process.
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  assert.equal(pkg.scripts.start, 'node --import tsx examples/demo/start.ts');
  const demo = spawn(process.execPath, ['--import', 'tsx', 'examples/demo/start.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  demo.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  demo.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((r) => demo.once('exit', (code) => r(code)));
  try {
    const socket = (await waitFor(() => /^socket: (.+)$/m.exec(out)?.[1], 'the demo banner', 60_000)).trim();
    const port = Number(/http:\/\/127\.0\.0\.1:(\d+)\/ /.exec(out)![1]);
    const status = JSON.parse(await sendAdminCommand(socket, 'status')) as { targets: number; units: Record<string, unknown> };
    assert.equal(status.targets, 2);
    assert.deepEqual(Object.keys(status.units).sort(), ['banner', 'reloadkit', 'service']);

    // the banner is published at start (reload_on_start)
    await waitFor(async () => (await httpGet(port, '/banner')).body.startsWith('Welcome!'), 'the banner published at start');

    writeFileSync(join(dir, 'demo', 'service.json'), '{ "greeting": "bonjour" }\n');
    await waitFor(async () => (await httpGet(port)).body.startsWith('bonjour'), 'the service to serve the new greeting');

    writeFileSync(join(dir, 'demo', 'banner.txt'), 'TODO: write a banner\n');
    await waitFor(() => /"unit":"banner".*"status":"validation_failed"/.test(out), 'the refused banner');
    assert.ok((await httpGet(port, '/banner')).body.startsWith('Welcome!'), 'a refused banner must not be published');

    const servicePid = Number(readFileSync(join(dir, 'demo', 'service.pid'), 'utf8'));
    demo.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    await waitFor(() => !isRunning(servicePid), 'the demo service to stop', 10_000);
  } finally {
    demo.kill('SIGKILL');
  }
});
