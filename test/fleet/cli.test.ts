// `reloadkit fleet` usage, as the built CLI answers it before any etcd is
// involved: every mistake is exit 2 with a message that says what to do.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cli } from '../integration/daemon-process.js';

describe('reloadkit fleet: usage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rk-fleet-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is listed in the main help; `fleet --help` explains push, status, pause, resume, abort, rollback and history', async () => {
    assert.match((await cli(['--help'])).stdout, /^\s+fleet\s+push a revision to a fleet/m);
    const h = await cli(['fleet', '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /reloadkit fleet push TARGET PATH\.\.\./);
    assert.match(h.stdout, /Exit codes: 0 success/);
    assert.match(h.stdout, /reloadkit fleet pause\|resume\|abort TARGET/);
    assert.match(h.stdout, /reloadkit fleet rollback TARGET \[--to REVISION\]/);
    assert.match(h.stdout, /--canary N/);
    assert.match(h.stdout, /--batch K/);
    const bare = await cli(['fleet']);
    assert.equal(bare.code, 2);
  });

  it('mistakes exit 2 with what to do', async () => {
    const cases: [string[], RegExp][] = [
      [['fleet', 'deploy'], /unknown fleet command "deploy" \(push, status, pause, resume, abort, rollback, history\)/],
      [['fleet', 'push'], /push needs TARGET and at least one PATH/],
      [['fleet', 'push', 'nginx'], /push needs at least one PATH/],
      [['fleet', 'push', 'bad name', 'a.conf'], /invalid target name/],
      [['fleet', 'history'], /history needs TARGET/],
      [['fleet', 'pause'], /pause needs TARGET/],
      [['fleet', 'abort', 'bad name'], /invalid target name/],
      [['fleet', 'rollback'], /rollback needs TARGET/],
      [['fleet', 'rollback', 'nginx', '--to', 'x'], /--to must be a whole number from 1/],
      [['fleet', 'push', 'nginx', 'a.conf', '--batch', '0'], /--batch must be a whole number from 1 to 100, got "0"/],
      [['fleet', 'push', 'nginx', 'a.conf', '--batch', '101'], /--batch must be a whole number from 1 to 100/],
      [['fleet', 'push', 'nginx', 'a.conf', '--canary', 'two'], /--canary must be a whole number from 0/],
      [['fleet', 'push', 'nginx', 'a.conf', '--health-wait', 'forever'], /--health-wait must be a duration such as 2s/],
      [['fleet', 'status'], /no etcd endpoints: pass --etcd URL\[,URL\], set RELOADKIT_ETCD, or -c a config/],
      [['fleet', 'status', '--etcd', 'http://127.0.0.1:2379'], /no fleet name: pass --fleet NAME/],
      [['fleet', 'status', '--etcd', 'ftp://x', '--fleet', 'web'], /invalid etcd endpoint "ftp:\/\/x"/],
      [['fleet', 'status', '--etcd', 'http://127.0.0.1:2379', '--fleet', '../x'], /invalid fleet name/],
      [['fleet', 'status', '--etcd', 'http://127.0.0.1:2379', '--fleet', 'web', '--timeout', 'soon'], /--timeout must be a duration/],
      [['fleet', 'status', '--bogus'], /Unknown option '--bogus'/],
      [['fleet', 'status', '-c', '/nonexistent/reloadkit.yaml'], /cannot read the config file \/nonexistent\/reloadkit\.yaml: ENOENT/],
    ];
    for (const [args, why] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, why, args.join(' '));
    }
  });

  it('the fleet of -c comes from its fleet: section; a broken one is reported with its line', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'fleet:\n  name: web\n  etcd:\n    endpoints: [nope]\ntargets: {}\n');
    const r = await cli(['fleet', 'status', '-c', join(dir, 'bad.yaml')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.yaml:4:\d+: fleet\.etcd\.endpoints\[0\]: expected an http/);
    writeFileSync(join(dir, 'nofleet.yaml'), 'targets: {}\n');
    const n = await cli(['fleet', 'status', '-c', join(dir, 'nofleet.yaml')]);
    assert.equal(n.code, 2);
    assert.match(n.stderr, /no etcd endpoints/);
  });

  it('an explicit -c outranks RELOADKIT_ETCD and RELOADKIT_FLEET; --etcd outranks it but keeps its TLS and auth settings', async () => {
    // Nothing listens on these ports: the error names the endpoints the CLI chose.
    const file = join(dir, 'prod.yaml');
    writeFileSync(file, 'fleet:\n  name: prod\n  etcd:\n    endpoints: [http://127.0.0.1:9]\n    timeout: 300ms\ntargets: {}\n');
    const env = { RELOADKIT_ETCD: 'http://127.0.0.1:7', RELOADKIT_FLEET: 'bad/name' };
    const r = await cli(['fleet', 'status', '-c', file], env);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /etcd \(http:\/\/127\.0\.0\.1:9\)/, "the file's endpoints, not the variable's");
    assert.doesNotMatch(r.stderr, /invalid fleet name/, "the file's fleet, not the variable's");
    // Without -c the variables apply (the invalid fleet name shows which was taken).
    const v = await cli(['fleet', 'status'], { ...env, RELOADKIT_CONFIG: file });
    assert.equal(v.code, 2);
    assert.match(v.stderr, /invalid fleet name "bad\/name"/);
    // --etcd and --fleet outrank the file; its TLS settings are kept (here: a CA file that is missing).
    const tls = join(dir, 'tls.yaml');
    const ca = join(dir, 'no-such-ca.pem');
    writeFileSync(tls, `fleet:\n  name: prod\n  etcd:\n    endpoints: [https://127.0.0.1:9]\n    ca_file: ${ca}\ntargets: {}\n`);
    const f = await cli(['fleet', 'status', '-c', tls, '--etcd', 'https://127.0.0.1:7', '--fleet', 'other'], env);
    assert.equal(f.code, 2, f.stdout + f.stderr);
    assert.match(f.stderr, new RegExp(`etcd ca_file ${ca.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read it \\(ENOENT\\)`));
    // The help says the same order.
    const h = await cli(['fleet', '--help']);
    assert.match(h.stdout, /always read\s+when given, and it outranks \$RELOADKIT_ETCD and\s+\$RELOADKIT_FLEET/);
  });
});
