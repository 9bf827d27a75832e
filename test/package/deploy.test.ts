// What ships in deploy/ and the Dockerfile, checked without systemd as PID 1
// and without a Docker engine: the unit files pass `systemd-analyze verify`
// with no complaint, agree with the daemon's defaults and with each other,
// and justify each directive in a comment; the Dockerfile's base images,
// HEALTHCHECK, STOPSIGNAL, init, user and copied paths. The supervisor script
// itself runs with a real nginx in test/integration/entrypoint.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { DEFAULT_CONFIG_PATH } from '../../src/shared/defaults.js';
import { healthcheckArgv, readDockerfile } from '../helpers/dockerfile.js';
import { cli } from '../integration/daemon-process.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const UNITS = ['deploy/reloadkit.service', 'deploy/reloadkit.socket', 'deploy/reloadkit-http.socket'];

/** A unit file as section → key → values (a key may repeat), plus each directive's line for the comment check. */
function unit(path: string): { get(section: string, key: string): string[]; lines: string[] } {
  const lines = read(path).split('\n');
  const sections = new Map<string, Map<string, string[]>>();
  let current = '';
  for (const line of lines) {
    const s = /^\[(\w+)\]$/.exec(line);
    if (s) current = s[1]!;
    const kv = /^(\w+)=(.*)$/.exec(line);
    if (kv) {
      const section = sections.get(current) ?? new Map<string, string[]>();
      sections.set(current, section);
      section.set(kv[1]!, [...(section.get(kv[1]!) ?? []), kv[2]!]);
    }
  }
  return { get: (section, key) => sections.get(section)?.get(key) ?? [], lines };
}

function analyzeOrSkip(): string | false {
  if (spawnSync('systemd-analyze', ['--version']).status === 0) return false;
  const msg = 'systemd-analyze is not installed: the unit file check needs it (apt-get install systemd)';
  if (process.env.CI === 'true') throw new Error(msg);
  process.stderr.write(`\n!!! SKIPPING: ${msg}\n\n`);
  return msg;
}

describe('systemd units', () => {
  it('pass systemd-analyze verify without a single warning', { skip: analyzeOrSkip() }, () => {
    const r = spawnSync('systemd-analyze', ['verify', ...UNITS], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(`${r.stdout}${r.stderr}`, '', 'no warnings');
  });

  it('notify, a reload that waits on the socket the socket unit holds, the daemon’s default paths', () => {
    const service = unit('deploy/reloadkit.service');
    const admin = unit('deploy/reloadkit.socket');
    const http = unit('deploy/reloadkit-http.socket');
    assert.deepEqual(service.get('Service', 'Type'), ['notify']);
    assert.deepEqual(service.get('Service', 'NotifyAccess'), ['all']);
    assert.ok(Number(service.get('Service', 'WatchdogSec')[0]) > 0);
    assert.deepEqual(service.get('Service', 'ExecStart'), [`/usr/bin/env reloadkit run -c ${DEFAULT_CONFIG_PATH}`]);
    const socketPath = admin.get('Socket', 'ListenStream')[0];
    assert.equal(socketPath, '/run/reloadkit/admin.sock', 'the daemon’s default socket as root');
    const reload = service.get('Service', 'ExecReload')[0] ?? '';
    assert.match(reload, new RegExp(`^/usr/bin/env reloadkit reload --socket ${socketPath} --timeout (\\d+)$`));
    // The client gives up (and says so) before systemd kills it.
    assert.ok(Number(/--timeout (\d+)/.exec(reload)![1]) < Number(service.get('Service', 'TimeoutStartSec')[0]));
    assert.deepEqual(admin.get('Socket', 'FileDescriptorName'), ['admin']);
    assert.deepEqual(admin.get('Socket', 'SocketMode'), ['0600']);
    assert.deepEqual(http.get('Socket', 'FileDescriptorName'), ['http']);
    assert.deepEqual(http.get('Socket', 'ListenStream'), ['127.0.0.1:9111']);
    for (const s of [admin, http]) assert.deepEqual(s.get('Socket', 'Service'), ['reloadkit.service']);
    // The socket unit's file lives in the runtime directory: a restart must not delete it.
    assert.deepEqual(service.get('Service', 'RuntimeDirectory'), ['reloadkit']);
    assert.deepEqual(service.get('Service', 'RuntimeDirectoryPreserve'), ['yes']);
  });

  it('hardening: a read-only system with the state, runtime and nginx log directories writable, no new privileges, a private /tmp', () => {
    const service = unit('deploy/reloadkit.service');
    const one = (key: string) => service.get('Service', key);
    assert.deepEqual(one('ProtectSystem'), ['strict']);
    assert.deepEqual(one('StateDirectory'), ['reloadkit']);
    assert.deepEqual(one('ReadWritePaths'), ['-/var/log/nginx -/var/lib/nginx']);
    assert.deepEqual(one('NoNewPrivileges'), ['yes']);
    assert.deepEqual(one('PrivateTmp'), ['yes']);
    // nginx -s reload signals a master of another user, and the nginx target finds its new workers in /proc.
    assert.match(one('CapabilityBoundingSet')[0] ?? '', /\bCAP_KILL\b/);
    assert.deepEqual(one('ProtectProc'), []);
    // V8 needs writable code pages.
    assert.deepEqual(one('MemoryDenyWriteExecute'), []);
  });

  it('every [Service] and [Socket] directive sits under a comment that says why (none after a blank line or the section header)', () => {
    for (const path of UNITS) {
      const { lines } = unit(path);
      let section = '';
      let previous = '';
      for (const line of lines) {
        section = /^\[(\w+)\]$/.exec(line)?.[1] ?? section;
        if (/^\w+=/.test(line) && (section === 'Service' || section === 'Socket')) {
          assert.ok(previous.startsWith('#') || /^\w+=/.test(previous), `${path}: "${line}" has no comment above it`);
        }
        previous = line;
      }
    }
  });
});

describe('Dockerfile', () => {
  const instructions = readDockerfile(root);
  const all = (keyword: string) => instructions.filter((i) => i.keyword === keyword);
  const runtimeStage = Math.max(...instructions.map((i) => i.stage));

  it('builds on a supported Node LTS slim image in both stages', () => {
    const froms = all('FROM');
    assert.equal(froms.length, 2);
    for (const f of froms) {
      const m = /^node:(\d+)-bookworm-slim(?: AS \w+)?$/.exec(f.args);
      assert.ok(m, `FROM ${f.args}`);
      // Node 20 reached end of life in April 2026; even majors from 22 are LTS.
      assert.ok(Number(m[1]) >= 22 && Number(m[1]) % 2 === 0, `FROM ${f.args}`);
    }
  });

  it('checks health on /ready at the address the image’s config serves, stops with SIGTERM, one init, not root', () => {
    const config = parse(read('deploy/docker/reloadkit.yaml')) as { admin: { http: string; socket: string }; state_dir: string };
    const argv = healthcheckArgv(instructions);
    assert.equal(argv[0], 'node');
    assert.ok(argv.join(' ').includes(`http://${config.admin.http}/ready`), argv.join(' '));
    assert.deepEqual(
      all('STOPSIGNAL').map((i) => i.args),
      ['SIGTERM'],
    );
    assert.deepEqual(
      all('ENTRYPOINT').map((i) => JSON.parse(i.args) as string[]),
      [['tini', '--', 'reloadkit-entrypoint']],
    );
    const script = read('deploy/docker/entrypoint.sh')
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('#'));
    assert.ok(!script.some((l) => /\b(tini|dumb-init|--init)\b/.test(l)), 'the supervisor does not start a second init');
    const user = all('USER').at(-1);
    assert.ok(user && user.stage === runtimeStage && user.args !== 'root' && user.args !== '0', 'the runtime stage runs as a user');
    assert.deepEqual(
      all('EXPOSE').map((i) => i.args),
      ['8080'],
    );
    assert.match(read('deploy/docker/default.conf'), /listen 8080 default_server;/);
    for (const label of ['title', 'description', 'source', 'licenses']) {
      assert.ok(
        all('LABEL').some((l) => l.args.includes(`org.opencontainers.image.${label}=`)),
        label,
      );
    }
    assert.ok(
      all('LABEL').some((l) => l.args.includes(`org.opencontainers.image.licenses="${(JSON.parse(read('package.json')) as { license: string }).license}"`)),
    );
  });

  it('the image’s daemon config is valid for the built CLI, and watches what nginx reads (no watch: list)', async () => {
    const config = parse(read('deploy/docker/reloadkit.yaml')) as { targets: Record<string, { kind: string; watch?: unknown }> };
    // An explicit list would count files nginx never reads (a NOTES.txt, a .bak) as changes.
    assert.equal(config.targets.nginx!.watch, undefined);
    const r = await cli(['validate', '-c', join(root, 'deploy/docker/reloadkit.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok \(1 target: nginx\)/);
  });

  it('nginx’s error log goes to a file the daemon reads and to stderr for docker logs; paths nginx and reloadkit write are created for the runtime user', () => {
    const nginx = read('deploy/docker/nginx.conf');
    assert.match(nginx, /^error_log \/var\/log\/nginx\/error\.log notice;$/m);
    assert.match(nginx, /^error_log stderr notice;$/m);
    const pid = /^pid (\S+);$/m.exec(nginx)![1]!;
    const config = parse(read('deploy/docker/reloadkit.yaml')) as { admin: { socket: string }; state_dir: string };
    const setup = all('RUN').find((r) => r.stage === runtimeStage && r.args.includes('chown'))!.args;
    for (const dir of [
      pid.slice(0, pid.lastIndexOf('/')),
      config.admin.socket.slice(0, config.admin.socket.lastIndexOf('/')),
      config.state_dir,
      '/var/log/nginx',
    ]) {
      assert.ok(setup.includes(` ${dir} `) || setup.endsWith(` ${dir}`), `${dir} is made and given to the runtime user`);
    }
  });

  it('copies only paths that exist: the build context’s files, and the bundled CLI’s files after npm run build (no node_modules, no maps)', () => {
    for (const copy of all('COPY').filter((c) => !c.args.startsWith('--from'))) {
      const parts = copy.args.split(' ');
      for (const src of parts.slice(0, -1)) assert.ok(existsSync(join(root, src)), `COPY ${src}`);
    }
    const stage = all('RUN').find((r) => r.stage === 0 && r.args.includes('/out'))!.args;
    const sources = stage
      .split('&&')
      .map((c) => c.trim().split(' '))
      .filter((argv) => argv[0] === 'cp')
      .flatMap((argv) => argv.slice(1, -1).filter((a) => !a.startsWith('-')));
    assert.deepEqual(sources, ['package.json', 'bin', 'dist/cli.js', 'dist/chunks', 'dist/admin/page'], stage);
    for (const src of sources) assert.ok(existsSync(join(root, src)), `${src} exists after the build`);
    assert.ok(!/node_modules/.test(stage));
    assert.ok(all('COPY').every((c) => !c.args.includes('node_modules')));
    const ignored = read('.dockerignore').split('\n');
    for (const p of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(p), `.dockerignore: ${p}`);
    assert.ok((statSync(join(root, 'deploy/docker/entrypoint.sh')).mode & 0o111) !== 0, 'the supervisor is executable');
  });
});
