// The CLI as a user runs it (a real process): help, version, usage errors,
// `validate` with and without --targets, and the human output formats.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatStatus, summarize } from '../../src/cli/client.js';
import type { ReloadResult } from '../../src/shared/types.js';
import { cli } from '../integration/daemon-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'rk-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string };

describe('reloadkit CLI', () => {
  it('--version prints the package version', async () => {
    const r = await cli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `reloadkit ${pkg.version}\n`);
  });

  it('--help lists the commands and the exit codes; each command has its own --help', async () => {
    const r = await cli(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['run', 'reload', 'status', 'validate']) assert.match(r.stdout, new RegExp(`\\n  ${c} `));
    assert.match(r.stdout, /Exit codes: 0 success; 1 .*; 2 usage error or the daemon cannot be reached/);
    for (const c of ['run', 'reload', 'status', 'validate']) {
      const h = await cli([c, '--help']);
      assert.equal(h.code, 0, c);
      assert.match(h.stdout, new RegExp(`^Usage: reloadkit ${c}`), c);
      assert.match(h.stdout, /Exit codes/, c);
    }
  });

  it('reload --help lists the same socket fallbacks, in the same order, as the precedence table of docs/daemon.md', async () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/daemon.md', import.meta.url)), 'utf8');
    const row = /^\| admin socket \|(.*)\|\s*$/m.exec(doc);
    assert.ok(row, 'the admin socket row of the precedence table');
    const cells = row[1]!.split('|').map((c) => c.trim());
    const [, env, file, defaults] = cells as [string, string, string, string];
    const quoted = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const expected = [...quoted(env).map((v) => `$${v}`), ...quoted(file), ...quoted(defaults)];
    assert.deepEqual(expected.slice(-3), ['/run/reloadkit/admin.sock', '$XDG_RUNTIME_DIR/reloadkit/admin.sock', '$TMPDIR/reloadkit-<uid>/admin.sock']);
    const help = (await cli(['reload', '--help'])).stdout.replace(/\s+/g, ' ');
    const socketHelp = /--socket PATH admin socket \(default: (.*?)\) -c, --config/.exec(help)?.[1];
    assert.ok(socketHelp, help);
    let at = -1;
    for (const item of expected) {
      const i = socketHelp.indexOf(item, at + 1);
      assert.ok(i > at, `reload --help names ${item} after the previous fallback: ${socketHelp}`);
      at = i;
    }
  });

  it('usage errors exit 2 with a pointer to --help', async () => {
    let r = await cli([]);
    assert.equal(r.code, 2);
    r = await cli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "frobnicate"/);
    r = await cli(['status', '--bogus']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /reloadkit status: Unknown option '--bogus'\n\(see: reloadkit status --help\)/);
    r = await cli(['run', '--nginx', '-c', 'x.yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--nginx is the zero-config mode; it cannot be combined with -c/);
    r = await cli(['run', '--log-level', 'loud', '-c', 'x.yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--log-level: expected one of trace, debug/);
    r = await cli(['run', '-c', 'x.yaml'], { RELOADKIT_HTTP: 'nonsense' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /RELOADKIT_HTTP: expected host:port/);
    r = await cli(['reload', 'a', 'b']);
    assert.equal(r.code, 2);
  });

  it('status against a missing socket exits 2 naming the path and the reason', async () => {
    const sock = join(tmp, 'none.sock');
    const r = await cli(['status'], { RELOADKIT_SOCKET: sock });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `reloadkit: cannot reach the daemon: no admin socket at ${sock} (is reloadkit running?)\n`);
  });

  it('status exits 1 when the daemon answers with an error or a non-status reply (with and without --json), 0 on a status', async () => {
    // A stand-in daemon: every connection gets the reply the test sets.
    const sock = join(tmp, 'fake.sock');
    let reply = '';
    const srv = createServer((c) => {
      c.on('error', () => {});
      c.once('data', () => c.end(reply));
    });
    await new Promise<void>((r) => srv.listen(sock, r));
    try {
      reply = '{"status":"error","message":"shutting down"}\n';
      let r = await cli(['status', '--socket', sock]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, `reloadkit: the daemon answered: {"status":"error","message":"shutting down"}\n`);
      r = await cli(['status', '--socket', sock, '--json']);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '{"status":"error","message":"shutting down"}\n');

      reply = 'ERROR: not a status\n';
      r = await cli(['status', '--socket', sock]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^reloadkit: unexpected reply from .*fake\.sock: ERROR: not a status\n$/);
      r = await cli(['status', '--socket', sock, '--json']);
      assert.equal(r.code, 1);

      reply = '{"status":"ok","uptime_secs":5,"targets":0,"units":{"reloadkit":{"generation":0,"last_result":null,"pending_restart":[]}}}\n';
      r = await cli(['status', '--socket', sock]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^reloadkit: up 5s, 0 targets\n/);
      r = await cli(['status', '--socket', sock, '--json']);
      assert.equal(r.code, 0);
    } finally {
      srv.close();
    }
    // --help says so, as docs/daemon.md does.
    const h = await cli(['status', '--help']);
    assert.match(h.stdout, /\n {2}1 {2}the daemon answered, but with an error/);
    const doc = readFileSync(fileURLToPath(new URL('../../docs/daemon.md', import.meta.url)), 'utf8');
    assert.match(doc, /\| `status` \| the daemon answered with its status \| the daemon answered with an error/);
  });

  it('run with a missing config file exits 1 with a clear message', async () => {
    const r = await cli(['run', '-c', join(tmp, 'absent.yaml'), '--socket', '', '--http', '']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /reloadkit: cannot start: .*absent\.yaml: cannot read the config file: no such file/);
  });

  it('validate: ok (0), invalid with positions (1), --targets runs each check (1 when one fails)', async () => {
    const good = join(tmp, 'good.yaml');
    writeFileSync(
      good,
      'targets:\n  pass:\n    kind: command\n    check: ["true"]\n    reload: ["false"]\n  fail:\n    kind: command\n    check: [sh, -c, "echo broken config >&2; exit 1"]\n    reload: ["true"]\n  sig:\n    kind: signal\n    pid: 12345\n',
    );
    let r = await cli(['validate', '-c', good]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${good}: ok (3 targets: pass, fail, sig)\n`);

    r = await cli(['validate', '--targets'], { RELOADKIT_CONFIG: good });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\npass: check ok\n/);
    assert.match(r.stdout, /\nfail: check failed: sh -c .* exited with code 1: broken config\n/);
    assert.match(r.stdout, /\nsig: no check \(signal target\)\n/);

    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, 'targets:\n  x:\n    kind: command\n    reload: "true"\n');
    r = await cli(['validate', '-c', bad]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `${bad}:4:13: targets.x.reload: Invalid input: expected array, received string\n`);
  });

  it('validate: a missing file and a file over 16 MiB are refused with a clear message (the oversize one unread)', async () => {
    let r = await cli(['validate', '-c', join(tmp, 'absent.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /absent\.yaml: cannot read the config file: no such file\n$/);
    const huge = join(tmp, 'huge.yaml');
    // Sparse: 20 MiB by size, nothing written; refused by its size before any read.
    writeFileSync(huge, '');
    truncateSync(huge, 20 * 1024 * 1024);
    r = await cli(['validate', '-c', huge]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /huge\.yaml: file is 20 MiB \(20971520 bytes\), over the limit of 16 MiB/);
  });
});

describe('human output', () => {
  const result = (over: Partial<ReloadResult>): ReloadResult => ({
    unit: 'web',
    generation: 3,
    status: 'full_success',
    trigger: 'socket',
    outcomes: [],
    requires_restart: [],
    config_hash: 'h',
    changed: [],
    started_at: '2026-01-01T00:00:00.000Z',
    ended_at: '2026-01-01T00:00:00.041Z',
    duration_ms: 41.2,
    coalesced: 0,
    ...over,
  });

  it('one line per unit, multi-line errors folded', () => {
    assert.equal(summarize(result({})), 'web: full_success (generation 3, 41 ms)');
    assert.equal(
      summarize(result({ status: 'validation_failed', error: 'web: nginx -T exited with code 1: [emerg] x\nnginx: test failed', coalesced: 2 })),
      'web: validation_failed: web: nginx -T exited with code 1: [emerg] x | nginx: test failed (generation 3, 41 ms, 2 coalesced)',
    );
    assert.equal(
      summarize(result({ unit: 'reloadkit', requires_restart: ['admin.socket'] })),
      'reloadkit: full_success (generation 3, 41 ms; restart needed for admin.socket)',
    );
  });

  it('status table', () => {
    const text = formatStatus(
      {
        status: 'ok',
        uptime_secs: 3725,
        targets: 1,
        units: {
          reloadkit: { generation: 0, last_result: null, pending_restart: [] },
          web: { generation: 3, last_result: result({ status: 'apply_failed', error: 'web: bind() failed' }), pending_restart: [] },
        },
      },
      Date.parse('2026-01-01T00:02:00.000Z'),
    );
    assert.equal(
      text,
      [
        'reloadkit: up 1h2m, 1 target',
        'UNIT       GEN  LAST          WHEN             RESTART NEEDED',
        'reloadkit  0    -             no reload yet    -',
        'web        3    apply_failed  2m ago (socket)  -',
        '  error: web: bind() failed',
        '',
      ].join('\n'),
    );
  });
});
