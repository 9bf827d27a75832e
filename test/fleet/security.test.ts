// etcd over TLS with a user limited to the fleet's prefix: a host and the
// CLI (both configured by the host's `fleet:` section) work through it, and
// the password never appears in a log line or a message.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCert, opensslAvailable } from '../helpers/certs.js';
import { etcdOrSkip, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { cli } from '../integration/daemon-process.js';
import { nginxOrSkip } from '../integration/helpers.js';
import { connected, serving, siteConf, stage, startFleetHost, type FleetHost } from './support.js';

const skip = etcdOrSkip() || nginxOrSkip() || (!(await opensslAvailable()) && 'openssl missing');
const PASSWORD = 'S3cret-etcd-pw';

describe('fleet: etcd over TLS with a user and password', { skip, timeout: 180_000 }, () => {
  let dir: string;
  let etcd: TestEtcd;
  let host: FleetHost;
  let ca: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rk-fleet-sec-'));
    const cert = await makeCert(dir, 'etcd');
    ca = cert.certFile;
    etcd = await startEtcd(1, { tls: { certFile: cert.certFile, keyFile: cert.keyFile } });
    const ctl = (...args: string[]) =>
      execFileSync('etcdctl', ['--endpoints', etcd.endpoints[0]!, '--cacert', ca, ...args], { stdio: 'pipe', env: { ...process.env, ETCDCTL_API: '3' } });
    ctl('user', 'add', 'root', '--new-user-password=root-pw', '--interactive=false');
    ctl('user', 'add', 'rk', `--new-user-password=${PASSWORD}`, '--interactive=false');
    ctl('role', 'add', 'rk');
    // The role reaches only the fleet's prefix.
    ctl('role', 'grant-permission', 'rk', '--prefix=true', 'readwrite', '/reloadkit/web/');
    ctl('user', 'grant-role', 'rk', 'rk');
    ctl('auth', 'enable');
    writeFileSync(join(dir, 'etcd.pass'), `${PASSWORD}\n`, { mode: 0o600 });
    host = await startFleetHost({
      name: 'secure-1',
      endpoints: etcd.endpoints,
      etcdExtra: `    ca_file: ${ca}\n    username: rk\n    password_file: ${join(dir, 'etcd.pass')}\n`,
    });
    await connected(host);
  });

  after(async () => {
    await host?.close();
    await etcd?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a push with the TLS and auth settings of the host config is applied; the password is in no log line', async () => {
    assert.match(etcd.endpoints[0]!, /^https:/);
    const from = stage({ 'site.conf': siteConf('secure') });
    const r = await cli(['fleet', 'push', 'nginx', 'site.conf', '-c', host.configPath, '--from', from, '--wait']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await serving(host, 'secure');
    const st = await cli(['fleet', 'status', '-c', host.configPath, '--json']);
    assert.equal(JSON.parse(st.stdout).hosts['secure-1'].targets.nginx.revision, 1);
    const everything = JSON.stringify(host.daemon.lines) + host.daemon.stderr() + r.stdout + r.stderr + st.stdout + st.stderr;
    assert.ok(!everything.includes(PASSWORD), 'the password never appears');
  });

  it('a wrong password: exit 2 with the reason, never the password', async () => {
    writeFileSync(join(dir, 'wrong.pass'), 'not-the-password\n');
    const config = readFileSync(host.configPath, 'utf8').replace(join(dir, 'etcd.pass'), join(dir, 'wrong.pass'));
    writeFileSync(join(dir, 'wrong.yaml'), config);
    const r = await cli(['fleet', 'status', '-c', join(dir, 'wrong.yaml')]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /etcd \(https:\/\/127\.0\.0\.1:\d+\).*authentication failed/i);
    assert.ok(!r.stderr.includes('not-the-password'));
  });

  it('without the CA the certificate is refused: exit 2', async () => {
    const r = await cli(['fleet', 'status', '--etcd', etcd.endpoints[0]!, '--fleet', 'web', '--timeout', '1s']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
  });
});
