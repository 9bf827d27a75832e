// The etcd client (etcd3 and gRPC) is loaded only when fleet mode or
// etcdSource is used: a single-host daemon and `import 'reloadkit'` never
// load it. A resolve hook reports every module the process loads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { cliEntry, ROOT } from '../helpers/cli-entry.js';
import { startDaemon } from '../integration/daemon-process.js';

const GRPC = /LOADED \S*node_modules\/(etcd3|@grpc\/grpc-js)\//;

describe('the etcd client loads only for fleet mode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rk-fleet-lazy-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'hook'));
  writeFileSync(
    join(dir, 'hook', 'hook.mjs'),
    'export async function resolve(s, c, next) {\n  const r = await next(s, c);\n  console.error(`LOADED ${r.url}`);\n  return r;\n}\n',
  );
  writeFileSync(
    join(dir, 'hook', 'register.mjs'),
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hook', 'hook.mjs')).href)});\n`,
  );
  const hook = ['--import', join(dir, 'hook', 'register.mjs')];
  writeFileSync(join(dir, 'app.conf'), 'x\n');
  const base = (name: string) =>
    `state_dir: ${dir}/state-${name}\nadmin: { socket: ${dir}/${name}.sock, http: 127.0.0.1:0 }\ntargets:\n  app:\n    kind: command\n    reload: ["true"]\n    watch: [${dir}/app.conf]\n`;

  it('a single-host daemon never loads etcd3 or gRPC', async () => {
    writeFileSync(join(dir, 'single.yaml'), base('single'));
    const d = await startDaemon({ args: ['-c', join(dir, 'single.yaml')], socket: join(dir, 'single.sock'), entry: [...hook, ...cliEntry()] });
    assert.match(await d.send('status'), /"status":"ok"/);
    await d.stop();
    assert.match(d.stderr(), /LOADED \S+dist\//, 'the hook saw the CLI load');
    assert.doesNotMatch(d.stderr(), GRPC);
  });

  it('a daemon with fleet: loads it (when its agent connects)', async () => {
    writeFileSync(
      join(dir, 'fleet.yaml'),
      `${base('fleet')}    fleet: { dir: ${dir}/fleetdir }\nfleet:\n  name: web\n  etcd: { endpoints: [http://127.0.0.1:1], timeout: 200ms }\n`,
    );
    const d = await startDaemon({ args: ['-c', join(dir, 'fleet.yaml')], socket: join(dir, 'fleet.sock'), entry: [...hook, ...cliEntry()] });
    await d.waitForLine((l) => l.msg === 'fleet: etcd session ended', 'the agent trying etcd');
    await d.stop();
    assert.match(d.stderr(), GRPC);
  });

  it("import 'reloadkit' does not load it", () => {
    const r = spawnSync(
      process.execPath,
      [...hook, '--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'index.js')).href)});`],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /LOADED \S+dist\/index\.js/);
    assert.doesNotMatch(r.stderr, GRPC);
  });
});
