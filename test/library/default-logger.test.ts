// With no `logger`, the library still reports its own failures: warnings and
// errors reach stderr as one JSON line each, routine lines (info, debug) stay
// silent, and `logger: false` silences everything. Each case runs a real
// service process (fixtures/logger-host.ts) and reads its stderr; ready() and
// the status reply show the same problems as `degraded`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { serializePersisted } from '../../src/integrity/persist.js';
import { configHash } from '../../src/shared/hash.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const host = fileURLToPath(new URL('./fixtures/logger-host.ts', import.meta.url));

let dir = '';
let taken: Server | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rk-logger-'));
});
after(async () => {
  taken?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  out: Record<string, unknown>;
  stderr: string;
  lines: Record<string, unknown>[];
}

async function service(scenario: string, mode: 'default' | 'silent', cwd: string): Promise<Run> {
  // tsx resolves from the repository; the service's files are in `cwd`.
  const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', host, scenario, mode, cwd], { cwd: root, timeout: 60_000 });
  const lines = stderr
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { out: JSON.parse(stdout) as Record<string, unknown>, stderr, lines };
}

async function fresh(name: string, config = 'port: 8080\n'): Promise<string> {
  const d = await mkdtemp(join(dir, `${name}-`));
  await writeFile(join(d, 'config.yaml'), config);
  return d;
}

/** Every line is the documented minimal shape: level, time, name, unit, then the event's fields, msg last. */
function assertShape(lines: Record<string, unknown>[]): void {
  for (const l of lines) {
    assert.deepEqual(Object.keys(l).slice(0, 4), ['level', 'time', 'name', 'unit']);
    assert.equal(Object.keys(l).at(-1), 'msg');
    assert.ok(l.level === 'warn' || l.level === 'error', `only warnings and errors: ${JSON.stringify(l)}`);
    assert.equal(typeof l.time, 'number');
    assert.equal(l.name, 'reloadkit');
    assert.equal(l.unit, 'app');
  }
}

describe('the default logger', () => {
  test('a healthy start and reload write nothing to stderr (info and debug are silent)', async () => {
    const r = await service('ok', 'default', await fresh('ok'));
    assert.deepEqual(r.out, { status: 'full_success' });
    assert.equal(r.stderr, '');
  });

  test('a last-known-good file in a missing directory: an error line on stderr, degraded in ready() and in the status reply', async () => {
    const r = await service('persist', 'default', await fresh('persist'));
    assertShape(r.lines);
    const line = r.lines.find((l) => l.msg === 'cannot save the last known good config; the reload itself is not affected');
    assert.ok(line, r.stderr);
    assert.equal(line.level, 'error');
    assert.match(String(line.path), /missing\/lkg\.json$/);
    assert.match(String(line.err), /ENOENT|no such file|does not exist/i);
    const ready = r.out.ready as { ok: boolean; degraded: string[] };
    assert.equal(ready.ok, true, 'still serving a valid config');
    assert.match(ready.degraded.join('\n'), /app: cannot save the last known good config/);
    assert.deepEqual(r.out.statusDegraded, ready.degraded);
  });

  test('an admin socket path another process answers on: a warning on stderr, degraded in ready()', async () => {
    const d = await fresh('socket');
    taken = createServer((c) => c.end());
    await new Promise<void>((resolve) => taken!.listen(join(d, 'taken.sock'), resolve));
    const r = await service('socket', 'default', d);
    assertShape(r.lines);
    const line = r.lines.find((l) => l.msg === 'another process answers on the admin socket; running without the admin socket');
    assert.ok(line, r.stderr);
    assert.equal(line.level, 'warn');
    const ready = r.out.ready as { ok: boolean; degraded: string[] };
    assert.equal(ready.ok, true);
    assert.match(ready.degraded.join('\n'), /admin socket: /);
  });

  test('a tampered last-known-good file at a broken start: the refusal is on stderr, and start() rejects', async () => {
    const d = await fresh('fallback', 'port: [oops\n');
    const cfg = { port: 8080 };
    await writeFile(join(d, 'lkg.json'), serializePersisted({ generation: 2, hash: configHash(cfg), config: cfg }).replace('8080', '9090'), { mode: 0o600 });
    const r = await service('fallback', 'default', d);
    assertShape(r.lines);
    const line = r.lines.find((l) => l.msg === 'no usable last known good config');
    assert.ok(line, r.stderr);
    assert.equal(line.level, 'warn');
    assert.match(String(line.reason), /does not match its config_hash/);
    assert.match(String(r.out.start), /cannot load .*config\.yaml/);
  });

  test('logger: false: the same three problems write nothing to stderr, and ready() still shows them', async () => {
    const persist = await service('persist', 'silent', await fresh('persist-silent'));
    assert.equal(persist.stderr, '');
    assert.match((persist.out.ready as { degraded: string[] }).degraded.join('\n'), /cannot save the last known good config/);

    const d = await fresh('socket-silent');
    const other = createServer((c) => c.end());
    await new Promise<void>((resolve) => other.listen(join(d, 'taken.sock'), resolve));
    try {
      const socket = await service('socket', 'silent', d);
      assert.equal(socket.stderr, '');
      assert.match((socket.out.ready as { degraded: string[] }).degraded.join('\n'), /admin socket: /);
    } finally {
      other.close();
    }

    const f = await fresh('fallback-silent', 'port: [oops\n');
    const cfg = { port: 8080 };
    await writeFile(join(f, 'lkg.json'), serializePersisted({ generation: 2, hash: configHash(cfg), config: cfg }).replace('8080', '9090'), { mode: 0o600 });
    const fallback = await service('fallback', 'silent', f);
    assert.equal(fallback.stderr, '');
    assert.match(String(fallback.out.start), /cannot load .*config\.yaml/);
  });
});
