// The daemon config: every problem reported at its line and column, defaults,
// path resolution, overrides, and docs/daemon.md kept in step with the schema.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { daemonConfigSchema, MAX_TARGETS, nginxZeroConfig, parseConfigText, parseDuration, type DaemonConfig } from '../../src/daemon/config.js';
import { defaultSocketPath, defaultStateDir } from '../../src/shared/defaults.js';
import { ConfigError } from '../../src/shared/errors.js';

function problems(text: string): string[] {
  try {
    parseConfigText(text, 'rk.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected the config to be refused');
}

const ok = (text: string, file = '/etc/rk/rk.yaml'): DaemonConfig => parseConfigText(text, file);

describe('daemon config: errors with positions', () => {
  it('reports every problem at its line:column, with the field path', () => {
    const p = problems(`log_level: loud
admin:
  socket_mode: "0666"
  htp: x
watch:
  debounce: 100
targets:
  web:
    kind: ngin
  app:
    kind: signal
    signal: SIGFOO
  cmd:
    kind: command
    check: []
`);
    assert.deepEqual(p, [
      'rk.yaml:1:12: log_level: Invalid option: expected one of "trace"|"debug"|"info"|"warn"|"error"|"fatal"|"silent"',
      'rk.yaml:3:16: admin.socket_mode: socket_mode "0666" gives access to every user; use 0600 or 0660 with socket_group',
      'rk.yaml:4:3: admin.htp: unknown key (not a reloadkit setting; check the spelling)',
      'rk.yaml:6:13: watch.debounce: invalid duration 100: use a number with a unit, e.g. 100ms, 10s, 2m',
      "rk.yaml:9:11: targets.web.kind: Invalid discriminator value. Expected 'nginx' | 'command' | 'http' | 'signal'",
      'rk.yaml:12:13: targets.app.signal: unknown signal name (expected e.g. SIGHUP, SIGUSR1, SIGUSR2)',
      'rk.yaml:11:5: targets.app: a signal target needs exactly one of pidfile or pid',
      'rk.yaml:14:5: targets.cmd.reload: required but missing',
      'rk.yaml:15:12: targets.cmd.check: needs at least the program name (argv, no shell)',
    ]);
  });

  it('YAML syntax errors and duplicate keys carry their position', () => {
    assert.match(problems('targets: [\n')[0]!, /^rk\.yaml:\d+:\d+: invalid YAML: /);
    assert.deepEqual(problems('targets: {}\ntargets: {}\n'), ['rk.yaml:2:1: invalid YAML: Map keys must be unique: "targets" is also at line 1']);
    assert.deepEqual(problems('targets:\n  a: {kind: command, reload: [x]}\n  b: {kind: command, reload: [x]}\n  a: {kind: command, reload: [y]}\n'), [
      'rk.yaml:4:3: invalid YAML: Map keys must be unique: "a" is also at line 2',
    ]);
  });

  it('a YAML alias bomb is refused with the file and the line where the aliases start, not expanded', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [name, prev] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
      ['g', 'f'],
      ['h', 'g'],
    ]) {
      bomb.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    assert.deepEqual(problems(`${bomb.join('\n')}\ntargets: {}\n`), [
      'rk.yaml:2:8: invalid YAML: aliases expand to too many nodes (more than 100 alias uses; an alias "bomb" is refused, not expanded)',
    ]);
  });

  it('flow collections nested 2,000 deep are refused with the file, the line and the column where the limit is crossed', () => {
    // The parser itself overflows the stack on such a file; it is refused before parsing.
    assert.deepEqual(problems(`targets: {}\nx: ${'['.repeat(2000)}${']'.repeat(2000)}\n`), ['rk.yaml:2:1004: invalid YAML: nested deeper than 1000 levels']);
  });

  it(`more than ${MAX_TARGETS} targets are refused with a clear message before validation`, () => {
    const targets = (n: number) => `targets:\n${Array.from({ length: n }, (_, i) => `  t${i}: {kind: command, reload: ["true"]}`).join('\n')}\n`;
    assert.equal(Object.keys(ok(targets(MAX_TARGETS)).targets).length, MAX_TARGETS);
    assert.deepEqual(problems(targets(MAX_TARGETS + 1)), [
      `rk.yaml:2:3: targets: ${MAX_TARGETS + 1} targets; one daemon runs at most ${MAX_TARGETS} (split them over several daemons, each with its own state_dir)`,
    ]);
  });

  it('validation time grows linearly with the file: 8x the keys (valid, or each one wrong) takes well under 64x the time', () => {
    // A large map anywhere (here: unknown top-level keys, each one a problem with its position) and a large valid list.
    const wrong = (n: number) => `targets: {}\n${Array.from({ length: n }, (_, i) => `k${i}: 1`).join('\n')}\n`;
    const valid = (n: number) => `targets:\n  t: {kind: command, reload: ["true"], watch: [${Array.from({ length: n }, (_, i) => `f${i}`).join(', ')}]}\n`;
    const time = (text: string) => {
      let best = Infinity;
      for (let i = 0; i < 3; i += 1) {
        const t0 = performance.now();
        try {
          parseConfigText(text, 'rk.yaml');
        } catch {
          // timed either way
        }
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    for (const [what, make] of [
      ['unknown keys', wrong],
      ['a long list', valid],
    ] as const) {
      const small = time(make(2000));
      const large = time(make(16_000));
      // Linear: about 8x (a loaded machine has shown up to 2.4 times the ideal ratio); the quadratic
      // duplicate-key check and position lookups gave 12-20x for 4x the keys, 40x or more for 8x.
      assert.ok(large / small < 24, `${what}: 2000 → ${small.toFixed(0)} ms, 16000 → ${large.toFixed(0)} ms (${(large / small).toFixed(1)}x)`);
    }
  });

  it('an empty file, a non-map, and a missing targets key are explained', () => {
    assert.deepEqual(problems(''), ['rk.yaml: the file is empty; it needs at least a "targets" map']);
    assert.deepEqual(problems('- a\n'), ['rk.yaml:1:1: the config must be a map of settings with at least "targets"']);
    assert.deepEqual(problems('log_level: info\n'), ['rk.yaml:1:1: targets: required but missing']);
  });

  it('target names: "reloadkit" is reserved, odd characters refused', () => {
    assert.deepEqual(problems('targets:\n  reloadkit:\n    kind: http\n    url: http://x/\n  "a b":\n    kind: http\n    url: http://x/\n'), [
      `rk.yaml:2:3: targets.reloadkit: "reloadkit" is the daemon's own unit; choose another target name`,
      "rk.yaml:5:3: targets.a b: invalid target name: letters, digits, '_', '.', '-' (at most 64)",
    ]);
  });

  it('check: on every kind; process: on signal targets, a valid regular expression', () => {
    const c = ok(
      'targets:\n  prom:\n    kind: http\n    url: http://127.0.0.1:9090/-/reload\n    check: [promtool, check, config, prometheus.yml]\n  app:\n    kind: signal\n    pidfile: app.pid\n    process: "^myapp( |$)"\n    check: [myapp, --check]\n  n:\n    kind: nginx\n    check: [test, -f, /etc/nginx/nginx.conf]\n',
    );
    assert.deepEqual(c.targets.prom!.check, ['promtool', 'check', 'config', 'prometheus.yml']);
    assert.deepEqual(c.targets.app!.check, ['myapp', '--check']);
    assert.equal((c.targets.app as { process?: string }).process, '^myapp( |$)');
    assert.deepEqual(c.targets.n!.check, ['test', '-f', '/etc/nginx/nginx.conf']);
    assert.deepEqual(problems('targets:\n  app:\n    kind: signal\n    pid: 42\n    process: "myapp("\n'), [
      'rk.yaml:5:14: targets.app.process: invalid regular expression',
    ]);
    assert.deepEqual(problems('targets:\n  app:\n    kind: command\n    reload: [x]\n    process: x\n'), [
      'rk.yaml:5:5: targets.app.process: unknown key (not a reloadkit setting; check the spelling)',
    ]);
  });

  it('refuses bad URLs, HTTP addresses, pids and world-accessible socket modes', () => {
    const p = problems(`admin:
  http: "localhost"
  socket_mode: 644
targets:
  p:
    kind: http
    url: ftp://example.com/
  s:
    kind: signal
    pid: 1
  t:
    kind: signal
    pid: 12
    pidfile: /run/x.pid
`);
    assert.equal(p.length, 5, p.join('\n'));
    const all = p.join('\n');
    assert.match(all, /^rk\.yaml:2:9: admin\.http: expected host:port/m);
    assert.match(all, /^rk\.yaml:3:16: admin\.socket_mode: socket_mode 644 gives access to every user/m);
    assert.match(all, /^rk\.yaml:7:10: targets\.p\.url: expected an http:\/\/ or https:\/\/ URL/m);
    assert.match(all, /^rk\.yaml:10:10: targets\.s\.pid: pid must be a process id above 1/m);
    assert.match(all, /^rk\.yaml:12:5: targets\.t: a signal target needs exactly one of pidfile or pid/m);
  });
});

describe('daemon config: signatures', () => {
  it('signature.public_key (top level and per target) is accepted and resolved against the config directory', () => {
    const c = parseConfigText(
      'signature:\n  public_key: k.pub\ntargets:\n  a:\n    kind: http\n    url: http://x/\n    signature: { public_key: /etc/k2.pub }\n',
      '/srv/rk/rk.yaml',
    );
    assert.deepEqual(c.signature, { public_key: '/srv/rk/k.pub' });
    assert.deepEqual(c.targets.a!.signature, { public_key: '/etc/k2.pub' });
    assert.match(problems('signature: { public_key: "" }\ntargets: {}\n').join('\n'), /signature\.public_key: must not be empty/);
  });
});

describe('daemon config: values', () => {
  it('parses durations with units only', () => {
    assert.equal(parseDuration('100ms'), 100);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration(0), 0);
    assert.equal(parseDuration('10'), null);
    assert.equal(parseDuration(10), null);
    assert.equal(parseDuration('-1s'), null);
  });

  it('fills defaults, resolves relative paths against the config file, and reads 0600 as octal', () => {
    const c = ok(`state_dir: state
admin:
  socket: run/admin.sock
  socket_mode: 0660
  token_file: token
defaults:
  timeout: 5s
targets:
  web:
    kind: nginx
    config: nginx/nginx.conf
  app:
    kind: signal
    pidfile: app.pid
    timeout: 2s
    watch: [app.yaml, /abs/conf.d]
  hook:
    kind: http
    url: http://127.0.0.1:9090/-/reload
`);
    assert.equal(c.log_level, 'info');
    assert.equal(c.state_dir, '/etc/rk/state');
    assert.deepEqual(c.admin, {
      socket: '/etc/rk/run/admin.sock',
      socket_mode: 0o660,
      max_connections: 1024,
      http: '127.0.0.1:9111',
      http_reload: false,
      token_file: '/etc/rk/token',
    });
    assert.deepEqual(c.watch, { debounce_ms: 100, max_wait_ms: 1000, rescan_ms: 30_000 });
    assert.deepEqual(c.targets.web, {
      kind: 'nginx',
      derive_watch: true,
      binary: 'nginx',
      config: '/etc/rk/nginx/nginx.conf',
      watch: [],
      cwd: '/etc/rk',
      timeout_ms: 5000,
      reload_on_start: false,
    });
    assert.deepEqual(c.targets.app, {
      kind: 'signal',
      pidfile: '/etc/rk/app.pid',
      signal: 'SIGHUP',
      watch: ['/etc/rk/app.yaml', '/abs/conf.d'],
      cwd: '/etc/rk',
      timeout_ms: 2000,
      reload_on_start: false,
    });
    assert.equal(c.targets.hook!.kind === 'http' && c.targets.hook!.method, 'POST');
  });

  it('"" disables the socket and HTTP; overrides win over the file', () => {
    const c = parseConfigText('log_level: warn\nadmin:\n  socket: ""\n  http: ""\ntargets: {}\n', '/x/rk.yaml');
    assert.equal(c.admin.socket, '');
    assert.equal(c.admin.http, '');
    const o = parseConfigText('log_level: warn\nadmin:\n  socket: a.sock\ntargets: {}\n', '/x/rk.yaml', {
      socket: '/run/b.sock',
      http: '127.0.0.1:1',
      log_level: 'debug',
    });
    assert.equal(o.admin.socket, '/run/b.sock');
    assert.equal(o.admin.http, '127.0.0.1:1');
    assert.equal(o.log_level, 'debug');
  });

  it('nginx without watch: derives what it watches (the files nginx reads); with watch: the list; --nginx mode derives', () => {
    const derived = ok('targets:\n  n:\n    kind: nginx\n    prefix: /srv/ngx\n').targets.n!;
    assert.equal(derived.kind === 'nginx' && derived.derive_watch, true);
    assert.deepEqual(derived.watch, []);
    const listed = ok('targets:\n  n:\n    kind: nginx\n    watch: [/etc/nginx]\n').targets.n!;
    assert.equal(listed.kind === 'nginx' && listed.derive_watch, false);
    assert.deepEqual(listed.watch, ['/etc/nginx']);
    const z = nginxZeroConfig();
    assert.deepEqual(Object.keys(z.targets), ['nginx']);
    assert.deepEqual(z.targets.nginx, { kind: 'nginx', derive_watch: true, binary: 'nginx', watch: [], cwd: '/', timeout_ms: 30_000, reload_on_start: false });
  });

  it('default locations: system paths as root, XDG paths otherwise', () => {
    if (process.getuid?.() === 0) {
      assert.equal(defaultSocketPath({}), '/run/reloadkit/admin.sock');
      assert.equal(defaultStateDir({}), '/var/lib/reloadkit');
    } else {
      assert.equal(defaultSocketPath({ XDG_RUNTIME_DIR: '/run/user/1000' }), '/run/user/1000/reloadkit/admin.sock');
      assert.equal(defaultStateDir({ XDG_STATE_HOME: '/home/u/.state' }), '/home/u/.state/reloadkit');
    }
  });
});

// ---- docs/daemon.md cannot drift from the schema ---------------------------

interface ZodLike {
  _zod: { def: { type: string; shape?: Record<string, ZodLike>; innerType?: ZodLike; valueType?: ZodLike; options?: ZodLike[]; in?: ZodLike } };
}

/** Every key the schema accepts, as `a.b` and `targets.NAME.key` paths. */
function schemaKeys(schema: ZodLike, prefix: string, out: Set<string>): void {
  const def = schema._zod.def;
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
      schemaKeys(def.innerType!, prefix, out);
      return;
    case 'object':
      for (const [k, v] of Object.entries(def.shape!)) {
        const path = prefix === '' ? k : `${prefix}.${k}`;
        out.add(path);
        schemaKeys(v, path, out);
      }
      return;
    case 'record':
      schemaKeys(def.valueType!, `${prefix}.NAME`, out);
      return;
    case 'union':
      for (const o of def.options!) schemaKeys(o, prefix, out);
      return;
    default:
      return;
  }
}

describe('docs/daemon.md', () => {
  it('documents exactly the keys the schema accepts', () => {
    const keys = new Set<string>();
    schemaKeys(daemonConfigSchema as unknown as ZodLike, '', keys);
    const doc = readFileSync(fileURLToPath(new URL('../../docs/daemon.md', import.meta.url)), 'utf8');
    const section = doc.slice(doc.indexOf('## Config reference'), doc.indexOf('\n## ', doc.indexOf('## Config reference') + 5));
    const documented = new Set([...section.matchAll(/^\| `([a-z_.A-Z]+)` \|/gm)].map((m) => m[1]!));
    const missing = [...keys].filter((k) => !documented.has(k)).sort();
    const extra = [...documented].filter((k) => !keys.has(k)).sort();
    assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
  });

  it('documents the defaults the daemon applies (a changed default fails here until the doc follows)', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/daemon.md', import.meta.url)), 'utf8');
    const start = doc.indexOf('## Config reference');
    const section = doc.slice(start, doc.indexOf('\n## ', start + 5));
    // key -> default cell; cells are split on unescaped pipes (the type column has `\|`).
    const cells = new Map<string, string>();
    for (const line of section.split('\n')) {
      const cols = line.split(/(?<!\\)\|/).map((c) => c.trim());
      const key = /^`([^`]+)`$/.exec(cols[1] ?? '')?.[1];
      if (key !== undefined) cells.set(key, cols[3]!);
    }
    const c = parseConfigText(
      'targets:\n  n: { kind: nginx }\n  c: { kind: command, reload: ["true"] }\n  h: { kind: http, url: "http://127.0.0.1:1/" }\n  s: { kind: signal, pid: 1234 }\n',
      '/etc/reloadkit/reloadkit.yaml',
    );
    const t = c.targets as unknown as Record<string, Record<string, unknown>>;
    const literal = (v: unknown) => `\`${String(v)}\``;
    const duration = (cell: string) => parseDuration(cell.replace(/`/g, ''));
    const expected: [string, string | number | null, string | number | null][] = [
      ['log_level', cells.get('log_level')!, literal(c.log_level)],
      ['admin.socket_mode', cells.get('admin.socket_mode')!, literal(`"0${c.admin.socket_mode.toString(8)}"`)],
      ['admin.max_connections', cells.get('admin.max_connections')!, literal(c.admin.max_connections)],
      ['admin.http', cells.get('admin.http')!, literal(c.admin.http)],
      ['admin.http_reload', cells.get('admin.http_reload')!, literal(c.admin.http_reload)],
      ['watch.debounce', duration(cells.get('watch.debounce')!), c.watch.debounce_ms],
      ['watch.max_wait', duration(cells.get('watch.max_wait')!), c.watch.max_wait_ms],
      ['watch.rescan', duration(cells.get('watch.rescan')!), c.watch.rescan_ms],
      ['defaults.timeout', duration(cells.get('defaults.timeout')!), c.defaults.timeout_ms],
      ['targets.NAME.timeout', cells.get('targets.NAME.timeout')!, literal('defaults.timeout')],
      ['targets.NAME.timeout (value)', t.c!.timeout_ms as number, c.defaults.timeout_ms],
      ['targets.NAME.reload_on_start', cells.get('targets.NAME.reload_on_start')!, literal(t.c!.reload_on_start)],
      ['targets.NAME.binary', cells.get('targets.NAME.binary')!, literal(t.n!.binary)],
      ['targets.NAME.method', cells.get('targets.NAME.method')!, literal(t.h!.method)],
      ['targets.NAME.signal', cells.get('targets.NAME.signal')!, literal(t.s!.signal)],
    ];
    for (const [key, documented, actual] of expected) assert.equal(documented, actual, `docs/daemon.md default of ${key}`);
    // nginx without a watch list watches the files nginx reads, as the doc says.
    assert.equal(t.n!.derive_watch, true);
    assert.match(cells.get('targets.NAME.watch')!, /^nginx: the files nginx reads/);
  });
});
