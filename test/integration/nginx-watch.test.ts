// End to end with a real nginx: without `watch:` the daemon watches the
// files nginx reads. A file no include matches (NOTES.txt, site.conf.bak)
// starts nothing, where a `watch:` naming the directory reloads nginx for it;
// a new file matching an include glob, and a new include, are picked up;
// with an explicit `watch:`, files nginx reads outside it are warned about.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, type DaemonHandle, type LogLine } from './daemon-process.js';
import { freePort, httpGet, nginxOrSkip, startTestNginx, waitFor, type TestNginx } from './helpers.js';

const skip = nginxOrSkip();

describe('nginx target: the files nginx reads are the watch set', { skip }, () => {
  let nginx: TestNginx;
  let apiPort: number;
  let dir: string;
  const running: DaemonHandle[] = [];

  /** An editor's atomic save. */
  const save = (path: string, text: string) => {
    writeFileSync(`${path}.tmp~`, text);
    renameSync(`${path}.tmp~`, path);
  };
  const start = async (name: string, watch: string | null) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      `log_level: debug\nstate_dir: ./state-${name}\nadmin:\n  socket: ./${name}.sock\n  http: ""\nwatch:\n  debounce: 50ms\ntargets:\n  web:\n    kind: nginx\n    prefix: ${nginx.prefix}\n    config: ${nginx.conf}\n${watch === null ? '' : `    watch: ${watch}\n`}    timeout: 20s\n`,
    );
    const d = await startDaemon({ args: ['-c', file], socket: join(dir, `${name}.sock`) });
    running.push(d);
    return d;
  };
  const nextPass = (d: DaemonHandle, from: number, what: string) =>
    d.waitForLine((l: LogLine) => l.msg === 'reload pass' && l.unit === 'web' && l.status !== 'unchanged', what, from);

  before(async () => {
    nginx = await startTestNginx('v1');
    apiPort = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'rk-nw-'));
    mkdirSync(join(nginx.prefix, 'conf.d'));
    mkdirSync(join(nginx.prefix, 'snippets'));
    writeFileSync(
      join(nginx.prefix, 'conf.d', 'api.conf'),
      `server {\n    listen 127.0.0.1:${apiPort};\n    include snippets/*.inc;\n    location / { return 200 "api"; }\n}\n`,
    );
    writeFileSync(join(nginx.prefix, 'snippets', 'a.inc'), 'location /a { return 200 "a1"; }\n');
    nginx.writeConfig('v1', `    include ${nginx.prefix}/conf.d/*.conf;`);
    // nginx reads the new layout before the daemons start.
    const master = nginx.master()!;
    process.kill(master, 'SIGHUP');
    await waitFor(async () => (await httpGet(apiPort, '/a').catch(() => ({ body: '' }))).body === 'a1', 'nginx serving the included files');
  });

  after(async () => {
    for (const d of running) await d.stop('SIGKILL');
    await nginx?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('files no include matches start no pass (a watch: naming the directory reloads nginx for each); a new file matching an include glob does', async () => {
    const derived = await start('derived', null);
    // The old default: the whole directory.
    const listed = await start('listed', `[${nginx.conf}, ${join(nginx.prefix, 'conf.d')}, ${join(nginx.prefix, 'snippets')}]`);
    const fromDerived = derived.lines.length;
    const fromListed = listed.lines.length;
    // Files nginx never reads.
    writeFileSync(join(nginx.prefix, 'conf.d', 'NOTES.txt'), 'remember to renew the certificate\n');
    await nextPass(listed, fromListed, 'the listed daemon to reload for NOTES.txt');
    const fromListed2 = listed.lines.length;
    writeFileSync(join(nginx.prefix, 'conf.d', 'api.conf.bak'), readFileSync(join(nginx.prefix, 'conf.d', 'api.conf')));
    await nextPass(listed, fromListed2, 'the listed daemon to reload for api.conf.bak');
    // A real edit, after both: the derived daemon's first pass is this one, and it names only this file.
    save(join(nginx.prefix, 'snippets', 'a.inc'), 'location /a { return 200 "a2"; }\n');
    const pass = await nextPass(derived, fromDerived, 'the derived daemon to reload for a.inc');
    assert.equal(pass.status, 'full_success', String(pass.error));
    assert.deepEqual(pass.changed, [`files[${JSON.stringify(join(nginx.prefix, 'snippets', 'a.inc'))}]`]);
    // Not even an `unchanged` pass: those files never start one.
    const derivedPasses = derived.lines.slice(fromDerived).filter((l) => l.msg === 'reload pass' && l.unit === 'web');
    assert.deepEqual(
      derivedPasses.map((l) => l.status),
      ['full_success'],
      'the derived daemon ran a pass for a file nginx does not read',
    );
    await waitFor(async () => (await httpGet(apiPort, '/a')).body === 'a2', 'a2 served');
    listed.proc.kill('SIGTERM');
    await listed.exited;

    // A new file matching `include snippets/*.inc`: seen, checked, reloaded, served.
    const from = derived.lines.length;
    writeFileSync(join(nginx.prefix, 'snippets', 'b.inc'), 'location /b { return 200 "b1"; }\n');
    const added = await nextPass(derived, from, 'the pass for the new snippet');
    assert.equal(added.status, 'full_success', String(added.error));
    assert.deepEqual(added.changed, [`files[${JSON.stringify(join(nginx.prefix, 'snippets', 'b.inc'))}]`]);
    await waitFor(async () => (await httpGet(apiPort, '/b')).body === 'b1', 'b1 served');
  });

  it('a new include is followed: its files are watched from then on', async () => {
    const d = running[0]!;
    mkdirSync(join(nginx.prefix, 'extra'));
    writeFileSync(join(nginx.prefix, 'extra', 'c.inc'), 'location /c { return 200 "c1"; }\n');
    let from = d.lines.length;
    save(
      join(nginx.prefix, 'conf.d', 'api.conf'),
      readFileSync(join(nginx.prefix, 'conf.d', 'api.conf'), 'utf8').replace('include snippets/*.inc;', 'include snippets/*.inc;\n    include extra/*.inc;'),
    );
    const pass = await nextPass(d, from, 'the pass for the new include');
    assert.equal(pass.status, 'full_success', String(pass.error));
    assert.ok((pass.changed as string[]).includes(`files[${JSON.stringify(join(nginx.prefix, 'extra', 'c.inc'))}]`), String(pass.changed));
    await d.waitForLine((l) => l.msg === 'the files nginx reads changed; watching the new set', 'the watchers to follow', from);
    await waitFor(async () => (await httpGet(apiPort, '/c')).body === 'c1', 'c1 served');
    from = d.lines.length;
    save(join(nginx.prefix, 'extra', 'c.inc'), 'location /c { return 200 "c2"; }\n');
    assert.equal((await nextPass(d, from, 'the pass for the edit in the new include')).status, 'full_success');
    await waitFor(async () => (await httpGet(apiPort, '/c')).body === 'c2', 'c2 served');
  });

  it('an explicit watch: that leaves out files nginx reads is warned about, at start and after a check', async () => {
    const d = await start('narrow', `[${nginx.conf}]`);
    const warnings = (msg: string) => d.lines.filter((l) => l.level === 'warn' && l.msg === msg);
    const outside = 'nginx reads a file outside watch:; edits to it will not start a reload (remove watch: to watch what nginx reads)';
    assert.ok(warnings(outside).some((l) => l.file === join(nginx.prefix, 'conf.d', 'api.conf')));
    assert.deepEqual(
      warnings('an include glob of the nginx config is in a directory outside watch:; new files matching it will not start a reload')
        .map((l) => l.include)
        .sort(),
      [join(nginx.prefix, 'conf.d', '*.conf'), join(nginx.prefix, 'extra', '*.inc'), join(nginx.prefix, 'snippets', '*.inc')],
    );
    // Each file once, however many checks.
    const r = JSON.parse(await d.send('reload web')) as { status: string };
    assert.equal(r.status, 'ok');
    assert.equal(warnings(outside).filter((l) => l.file === join(nginx.prefix, 'conf.d', 'api.conf')).length, 1);
    assert.equal(await d.stop(), 0);
  });
});
