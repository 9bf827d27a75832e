// Pure logic of fleet mode: the config section, path checks, the revision
// format and its signatures, key parsing, and the rollout state from host
// reports. (Everything that talks to etcd, nginx or a daemon is tested for
// real in the other files of this folder.)
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DAEMON_RESTART_PATHS, parseConfigText } from '../../src/daemon/config.js';
import { ConfigError } from '../../src/shared/errors.js';
import { RestartMatcher } from '../../src/engine/restart.js';
import { desiredKey, driverKey, hostKey, parseHostKey, parseTargetKey, parseTurnKey, revisionKey, targetsPrefix, turnKey } from '../../src/fleet/keys.js';
import {
  buildManifest,
  checkRelativePath,
  collectPushFiles,
  decodeRevision,
  encodeRevision,
  MAX_REVISION_BYTES,
  verifyRevision,
} from '../../src/fleet/revisions.js';
import { RevisionError } from '../../src/shared/errors.js';

const BASE = `
fleet:
  name: web
  host: web-1
  labels: { zone: a, canary: "true" }
  etcd:
    endpoints: [http://127.0.0.1:2379, http://127.0.0.2:2379]
    lease_ttl: 5s
    timeout: 1500ms
    ca_file: tls/ca.pem
    username: reloadkit
    password_file: etcd.pass
targets:
  nginx:
    kind: nginx
    fleet:
      dir: fleet
      health: { url: http://127.0.0.1/healthz, for: 2s }
`;

function problems(text: string): string[] {
  try {
    parseConfigText(text, '/etc/rk/rk.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected the config to be refused');
}

describe('fleet: config section', () => {
  it('normalizes fleet: and a target fleet: (paths against the file, defaults filled)', () => {
    const c = parseConfigText(BASE, '/etc/rk/rk.yaml');
    assert.deepEqual(c.fleet, {
      name: 'web',
      host: 'web-1',
      labels: { zone: 'a', canary: 'true' },
      etcd: {
        endpoints: ['http://127.0.0.1:2379', 'http://127.0.0.2:2379'],
        ca_file: '/etc/rk/tls/ca.pem',
        username: 'reloadkit',
        password_file: '/etc/rk/etcd.pass',
        lease_ttl_ms: 5000,
        timeout_ms: 1500,
      },
    });
    assert.deepEqual(c.targets.nginx!.fleet, {
      dir: '/etc/rk/fleet',
      health: { url: 'http://127.0.0.1/healthz', for_ms: 2000, interval_ms: 500, timeout_ms: 2000 },
    });
    const d = parseConfigText('fleet: { name: web, etcd: { endpoints: [http://127.0.0.1:2379] } }\ntargets: {}\n', '/x/rk.yaml');
    assert.equal(d.fleet!.etcd.lease_ttl_ms, 10_000);
    assert.equal(d.fleet!.etcd.timeout_ms, 2000);
    assert.ok(d.fleet!.host.length > 0, 'host defaults to the hostname');
  });

  it('refuses bad values with their line', () => {
    const p = problems(BASE.replace('name: web', 'name: "we b"').replace('lease_ttl: 5s', 'lease_ttl: 10ms').replace('http://127.0.0.2:2379', 'etcd-2:2379'));
    assert.ok(
      p.some((x) => /rk\.yaml:3:\d+: fleet\.name: letters, digits/.test(x)),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => /fleet\.etcd\.lease_ttl: duration "10ms" is too short/.test(x)),
      p.join('\n'),
    );
    assert.ok(
      p.some((x) => /fleet\.etcd\.endpoints\[1\]: expected an http/.test(x)),
      p.join('\n'),
    );
    assert.ok(problems(BASE.replace('      dir: fleet\n', '')).some((x) => /targets\.nginx\.fleet\.dir: required but missing/.test(x)));
    assert.ok(problems(BASE.replace('    timeout: 1500ms', '    timout: 1s')).some((x) => /fleet\.etcd\.timout: unknown key/.test(x)));
  });

  it('a fleet-managed target needs the top-level fleet: section', () => {
    const p = problems('targets:\n  nginx:\n    kind: nginx\n    fleet: { dir: /etc/nginx/fleet }\n');
    assert.ok(
      p.some((x) => /targets\.nginx\.fleet: a fleet-managed target needs the top-level fleet: section/.test(x)),
      p.join('\n'),
    );
  });

  it('fleet changes are restart-required', () => {
    const a = parseConfigText(BASE, '/etc/rk/rk.yaml');
    const b = parseConfigText(BASE.replace('lease_ttl: 5s', 'lease_ttl: 6s').replace('dir: fleet', 'dir: other'), '/etc/rk/rk.yaml');
    assert.deepEqual(new RestartMatcher(DAEMON_RESTART_PATHS).diff(a, b), ['fleet', 'targets.nginx.fleet']);
  });
});

describe('fleet: push paths', () => {
  it('relative paths only, no "..", normal form', () => {
    assert.equal(checkRelativePath('./conf.d//site.conf'), 'conf.d/site.conf');
    assert.throws(() => checkRelativePath('/etc/x'), /absolute paths are refused/);
    assert.throws(() => checkRelativePath('a/../b'), /"\.\." is refused/);
    assert.throws(() => checkRelativePath('..'), /"\.\." is refused/);
    assert.throws(() => checkRelativePath('.'), /names no file/);
    assert.throws(() => checkRelativePath('a\0b'), /not a valid path/);
  });

  it('collects files and directories; refuses symlinks and more than 1 MiB', async () => {
    const d = mkdtempSync(join(tmpdir(), 'rk-push-'));
    try {
      mkdirSync(join(d, 'conf.d'));
      writeFileSync(join(d, 'conf.d', 'b.conf'), 'b');
      writeFileSync(join(d, 'conf.d', 'a.conf'), 'a');
      writeFileSync(join(d, 'top.conf'), 'top');
      const files = await collectPushFiles(['top.conf', 'conf.d'], d);
      assert.deepEqual(
        files.map((f) => [f.path, f.bytes.toString()]),
        [
          ['conf.d/a.conf', 'a'],
          ['conf.d/b.conf', 'b'],
          ['top.conf', 'top'],
        ],
      );
      symlinkSync(join(d, 'top.conf'), join(d, 'conf.d', 'link.conf'));
      await assert.rejects(collectPushFiles(['conf.d'], d), (e: Error) => e instanceof RevisionError && /conf\.d\/link\.conf: is a symlink/.test(e.message));
      writeFileSync(join(d, 'half1'), Buffer.alloc(MAX_REVISION_BYTES / 2));
      writeFileSync(join(d, 'half2'), Buffer.alloc(MAX_REVISION_BYTES / 2));
      assert.equal((await collectPushFiles(['half1', 'half2'], d)).length, 2, 'exactly 1 MiB is allowed');
      await assert.rejects(collectPushFiles(['half1', 'half2', 'top.conf'], d), /larger than 1 MiB in all/);
      await assert.rejects(collectPushFiles(['top.conf', './top.conf'], d), /named twice/);
      await assert.rejects(collectPushFiles(['nope.conf'], d), /nope\.conf: cannot read it \(ENOENT\)/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('fleet: revision format and signatures', () => {
  const files = [
    { path: 'a.conf', bytes: Buffer.from('alpha\n') },
    { path: 'bin/b.dat', bytes: Buffer.from([0, 255, 10, 13]) },
  ];
  const base = { fleet: 'web', target: 'nginx', revision: 7, created_at: '2026-01-01T00:00:00.000Z', author: 'me', message: 'm' };
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');

  it('round-trips bytes exactly; a tampered file or manifest is refused', () => {
    const value = encodeRevision({ manifest: buildManifest(base, files), files });
    const back = decodeRevision(value, 'x');
    assert.deepEqual(
      back.files.map((f) => [f.path, [...f.bytes]]),
      files.map((f) => [f.path, [...f.bytes]]),
    );
    const tampered = Buffer.from(value);
    tampered[tampered.length - 1] = tampered.at(-1)! ^ 1;
    assert.throws(() => decodeRevision(tampered, 'x'), /bin\/b\.dat: content does not match its hash/);
    assert.throws(() => decodeRevision(Buffer.from('garbage'), 'x'), /unknown format/);
    assert.throws(() => decodeRevision(Buffer.concat([value, Buffer.from('!')]), 'x'), /trailing bytes/);
  });

  it('a signature binds fleet, target, number and every file', () => {
    const signed = { manifest: buildManifest(base, files, privateKey), files };
    assert.equal(verifyRevision(signed, publicKey, { fleet: 'web', target: 'nginx', revision: 7 }), null);
    assert.equal(
      verifyRevision({ manifest: buildManifest(base, files), files }, publicKey, { fleet: 'web', target: 'nginx', revision: 7 }),
      'the revision is not signed',
    );
    assert.equal(verifyRevision(signed, other.publicKey, { fleet: 'web', target: 'nginx', revision: 7 }), 'bad signature');
    assert.match(verifyRevision(signed, publicKey, { fleet: 'web', target: 'haproxy', revision: 7 })!, /signed for web\/nginx/);
    // Renumbered (a replay as another revision): the manifest signature no longer holds.
    assert.equal(
      verifyRevision({ manifest: { ...signed.manifest, revision: 8 }, files }, publicKey, { fleet: 'web', target: 'nginx', revision: 8 }),
      'bad signature',
    );
    // Copied unchanged under another number: the signature holds, but it was signed as revision 7.
    assert.match(verifyRevision(signed, publicKey, { fleet: 'web', target: 'nginx', revision: 8 })!, /signed as revision 7, not 8/);
    // A file swapped with a validly hashed other content, its per-file signature kept: refused.
    const swapped = [{ path: 'a.conf', bytes: Buffer.from('evil\n') }, files[1]!];
    const m2 = buildManifest(base, swapped);
    const forged = {
      manifest: { ...m2, signature: signed.manifest.signature, files: m2.files.map((f, i) => ({ ...f, sig: signed.manifest.files[i]!.sig })) },
      files: swapped,
    };
    assert.equal(verifyRevision(forged, publicKey, { fleet: 'web', target: 'nginx', revision: 7 }), 'bad signature');
  });
});

describe('fleet: keys and rollout state', () => {
  it('keys live under /reloadkit/<fleet>/ and parse back', () => {
    assert.equal(hostKey('web', 'h1'), '/reloadkit/web/hosts/h1');
    assert.equal(revisionKey('web', 'nginx', 12), '/reloadkit/web/revisions/nginx/0000000012');
    assert.equal(parseHostKey('web', '/reloadkit/web/hosts/h1'), 'h1');
    assert.equal(parseHostKey('web', '/reloadkit/webx/hosts/h1'), null);
    assert.deepEqual(parseTargetKey('web', desiredKey('web', 'nginx')), { target: 'nginx', kind: 'desired' });
    assert.equal(parseTargetKey('web', '/reloadkit/web/targets/nginx/other'), null);
  });

  it('turn keys live apart from the records every host watches, and parse back', () => {
    assert.equal(turnKey('web', 'nginx', 'h1'), '/reloadkit/web/turns/nginx/h1');
    assert.deepEqual(parseTurnKey('web', turnKey('web', 'nginx', 'h1')), { target: 'nginx', host: 'h1' });
    assert.equal(parseTurnKey('web', '/reloadkit/web/turns/nginx'), null);
    assert.ok(!turnKey('web', 'nginx', 'h1').startsWith(targetsPrefix('web')), 'a turn does not fan out to every host');
    assert.deepEqual(parseTargetKey('web', driverKey('web', 'nginx')), { target: 'nginx', kind: 'driver' });
  });
});

describe('fleet: the apply step never writes outside fleet.dir', () => {
  it('a symlinked directory inside fleet.dir is refused before anything is written; nothing outside changes', async () => {
    const { applyRevision } = await import('../../src/fleet/apply.js');
    const root = mkdtempSync(join(tmpdir(), 'rk-apply-'));
    try {
      const dir = join(root, 'fleet');
      const outside = join(root, 'outside');
      mkdirSync(dir);
      mkdirSync(outside);
      writeFileSync(join(dir, 'ok.conf'), 'before\n');
      symlinkSync(outside, join(dir, 'conf.d'));
      let passes = 0;
      const files = [
        { path: 'ok.conf', bytes: Buffer.from('after\n') },
        { path: 'conf.d/evil.conf', bytes: Buffer.from('escaped\n') },
      ];
      const rev = { manifest: buildManifest({ fleet: 'web', target: 't', revision: 1, created_at: '', author: '', message: '' }, files), files };
      const outcome = await applyRevision({
        target: {
          name: 't',
          dir,
          configHash: () => 'h',
          runPass: async () => {
            passes += 1;
            throw new Error('no pass expected');
          },
        },
        revision: rev,
        records: { read: async () => null, write: async () => {} },
        logger: { debug() {}, info() {}, warn() {}, error() {} },
      });
      assert.equal(outcome.status, 'failed');
      assert.match(outcome.status === 'failed' ? outcome.reason : '', /conf\.d\/evil\.conf: .*conf\.d is a symlink; nothing is written outside fleet\.dir/);
      assert.equal(passes, 0, 'no pass ran');
      assert.equal(readFileSync(join(dir, 'ok.conf'), 'utf8'), 'before\n', 'nothing written inside either');
      assert.deepEqual(readdirSync(outside), [], 'nothing written outside');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
