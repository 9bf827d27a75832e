import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { changedPaths, deepEqual, deepFreeze } from '../../src/engine/snapshot.js';
import { formatPath, parsePattern } from '../../src/shared/paths.js';
import { RestartMatcher } from '../../src/engine/restart.js';
import { canonicalJson, configHash, freezeStable, isStable } from '../../src/shared/hash.js';
import { z } from 'zod';
import { createReloader, fileSource } from '../../src/index.js';
import { put, tempDir } from '../sources/tmp.js';

describe('deepFreeze', () => {
  test('freezes nested objects and arrays so writes throw in strict mode', () => {
    const v = deepFreeze({ a: { b: [1, { c: 2 }] } });
    assert.ok(Object.isFrozen(v.a.b[1]));
    assert.throws(() => {
      (v.a.b as number[]).push(3);
    }, TypeError);
    assert.throws(() => {
      (v.a as { b: unknown }).b = 1;
    }, TypeError);
  });

  test('handles cycles without looping', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    deepFreeze(a);
    assert.ok(Object.isFrozen(a));
  });
});

describe('snapshots hold what a schema transform builds read-only: URL, Map, Set, Date', () => {
  const schema = z.object({
    upstream: z.string().transform((s) => new URL(s)),
    weights: z.record(z.string(), z.number()).transform((r) => new Map(Object.entries(r))),
    tags: z.array(z.string()).transform((a) => new Set(a)),
    since: z.string().transform((s) => new Date(s)),
    limits: z.object({ rps: z.number() }).transform((o) => new Map([['rps', o]])),
  });
  const yaml = (url: string) => `upstream: ${url}\nweights: { a: 1 }\ntags: [blue]\nsince: 2026-01-02T03:04:05Z\nlimits: { rps: 10 }\n`;
  type Snapshot = ReturnType<ReturnType<typeof createReloader<z.output<typeof schema>>>['current']>;
  /** Each mutation a user might try, as plain JavaScript would write it (no types). */
  const attempts: [string, (c: Snapshot) => unknown][] = [
    ['URL.href', (c) => ((c.upstream as { href: string }).href = 'https://evil.example/')],
    ['URL.host', (c) => ((c.upstream as { host: string }).host = 'evil.example')],
    ['URL.port', (c) => ((c.upstream as { port: string }).port = '81')],
    ['URL.pathname', (c) => ((c.upstream as { pathname: string }).pathname = '/x')],
    ['URL.searchParams.set', (c) => (c.upstream.searchParams as URLSearchParams).set('q', '1')],
    ['URL.searchParams.append', (c) => (c.upstream.searchParams as URLSearchParams).append('q', '1')],
    ['Map.set', (c) => (c.weights as Map<string, number>).set('b', 2)],
    ['Map.delete', (c) => (c.weights as Map<string, number>).delete('a')],
    ['Map.clear', (c) => (c.weights as Map<string, number>).clear()],
    ['a value inside a Map', (c) => ((c.limits.get('rps') as { rps: number }).rps = 1_000)],
    ['Set.add', (c) => (c.tags as Set<string>).add('red')],
    ['Set.delete', (c) => (c.tags as Set<string>).delete('blue')],
    ['Set.clear', (c) => (c.tags as Set<string>).clear()],
    ['Date.setTime', (c) => (c.since as Date).setTime(0)],
    ['Date.setFullYear', (c) => (c.since as Date).setFullYear(2000)],
    ['Date.setUTCHours', (c) => (c.since as Date).setUTCHours(1)],
    ['a new property', (c) => ((c.upstream as unknown as Record<string, unknown>).extra = 1)],
  ];

  /** The snapshot of a started reloader on a real YAML file with that upstream. */
  async function loaded(t: TestContext, url: string) {
    const file = await put(await tempDir(t), 'config.yaml', yaml(url));
    const r = createReloader({ source: fileSource(file), schema, logger: false });
    await r.start();
    t.after(() => r.close());
    return r.current();
  }

  test('every mutator throws a TypeError and the shared snapshot (and its hash) stays as loaded', async (t) => {
    const c = await loaded(t, 'https://api.example/v1?x=1');
    const before = canonicalJson(c);
    for (const [what, attempt] of attempts) {
      assert.throws(() => attempt(c), TypeError, what);
    }
    assert.equal(canonicalJson(c), before);
    assert.equal(c.upstream.href, 'https://api.example/v1?x=1');
    assert.equal(c.upstream.searchParams.get('x'), '1');
    assert.deepEqual([...c.weights], [['a', 1]]);
    assert.deepEqual([...c.tags], ['blue']);
    assert.equal(c.since.toISOString(), '2026-01-02T03:04:05.000Z');
    // The message says why.
    assert.throws(() => attempts[0]![1](c), /cannot set URL\.href: config snapshots are read-only/);
    assert.throws(() => attempts[6]![1](c), /cannot call Map\.set\(\): config snapshots are read-only/);
  });

  test('reading works as on the originals: getters, JSON, String(), new URL(url), iteration, instanceof', async (t) => {
    const c = await loaded(t, 'https://api.example:8443/v1?x=1#top');
    assert.ok(c.upstream instanceof URL && c.weights instanceof Map && c.tags instanceof Set && c.since instanceof Date);
    assert.deepEqual(
      [c.upstream.protocol, c.upstream.host, c.upstream.port, c.upstream.pathname, c.upstream.search, c.upstream.hash, c.upstream.origin],
      ['https:', 'api.example:8443', '8443', '/v1', '?x=1', '#top', 'https://api.example:8443'],
    );
    assert.equal(String(c.upstream), 'https://api.example:8443/v1?x=1#top');
    assert.equal(JSON.stringify(c.upstream), '"https://api.example:8443/v1?x=1#top"');
    // A copy is an ordinary, writable URL.
    const copy = new URL(c.upstream);
    copy.port = '9000';
    assert.equal(copy.port, '9000');
    assert.equal(c.upstream.port, '8443');
    assert.equal(c.weights.get('a'), 1);
    assert.equal(c.since.getTime(), Date.parse('2026-01-02T03:04:05Z'));
    // Keys the mutators are shadowed with are not enumerable: they show nowhere.
    assert.deepEqual(Object.keys(c.weights), []);
    assert.deepEqual(Object.keys(c.upstream), []);
  });

  test('a reload builds new objects; a hook keeps the old ones, unchanged, and the change is seen', async (t) => {
    const dir = await tempDir(t);
    const file = await put(dir, 'config.yaml', yaml('https://a.example/'));
    const seen: string[] = [];
    const r = createReloader({
      source: fileSource(file),
      schema,
      logger: false,
      hooks: [
        {
          name: 'upstream',
          apply: (_ctx, old, next) => {
            assert.throws(() => ((old.upstream as { href: string }).href = 'https://evil.example/'), TypeError);
            seen.push(`${old.upstream.href} -> ${next.upstream.href}`);
          },
        },
      ],
    });
    await r.start();
    t.after(() => r.close());
    const first = r.current();
    await put(dir, 'config.yaml', yaml('https://b.example/'));
    const res = await r.reload();
    assert.equal(res.status, 'full_success');
    assert.deepEqual(res.changed, ['upstream']);
    assert.deepEqual(seen, ['https://a.example/ -> https://b.example/']);
    assert.equal(first.upstream.href, 'https://a.example/');
    assert.equal(r.current().upstream.href, 'https://b.example/');
  });

  test('deepFreeze leaves what cannot be frozen as it is: the bytes of a Buffer or typed array', () => {
    const v = deepFreeze({ bytes: Buffer.from('ab'), view: new Uint8Array([1]), list: [new Map([[1, new Date(0)]])] });
    assert.ok(Object.isFrozen(v) && Object.isFrozen(v.list) && Object.isFrozen(v.list[0]!.get(1)));
    v.bytes[0] = 0x7a;
    assert.equal(v.bytes.toString(), 'zb');
    assert.throws(() => v.list[0]!.get(1)!.setTime(5), TypeError);
  });
});

describe('configHash', () => {
  test('is independent of key order and distinguishes types', () => {
    assert.equal(configHash({ a: 1, b: { c: 2, d: 3 } }), configHash({ b: { d: 3, c: 2 }, a: 1 }));
    assert.notEqual(configHash({ a: 1 }), configHash({ a: '1' }));
    assert.notEqual(configHash({ a: [1, 2] }), configHash({ a: [2, 1] }));
    assert.notEqual(configHash({ n: Number.POSITIVE_INFINITY }), configHash({ n: null }));
    assert.notEqual(configHash({ n: 10n }), configHash({ n: 10 }));
    assert.match(configHash({}), /^[0-9a-f]{64}$/);
  });

  test('drops undefined members, serialises dates as ISO strings', () => {
    assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
    assert.equal(canonicalJson({ d: new Date('2026-01-02T03:04:05Z') }), '{"d":"2026-01-02T03:04:05.000Z"}');
  });

  test('-0 and 0 are the same setting for the hash, deepEqual and changedPaths alike', () => {
    assert.equal(configHash({ a: -0 }), configHash({ a: 0 }));
    assert.ok(deepEqual({ a: [-0] }, { a: [0] }));
    assert.deepEqual(changedPaths({ a: -0 }, { a: 0 }), []);
  });

  test('property: equal values hash equal; a key order shuffle never changes the hash', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const clone = JSON.parse(JSON.stringify(v)) as unknown;
        assert.equal(configHash(v), configHash(clone));
        assert.ok(deepEqual(v, clone));
      }),
    );
  });
});

describe('stable data shared between configs (a source reusing unchanged fragments)', () => {
  const clone = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

  test('a stable subtree hashes as its copy does, in every config that holds it, however often', () => {
    const shared = freezeStable({ tls: { cert: 'a.pem', ciphers: ['x', 'y'] }, port: 443 });
    assert.ok(isStable(shared) && isStable(shared.tls.ciphers) && Object.isFrozen(shared.tls.ciphers));
    const first = deepFreeze({ server: shared, v: 1 });
    const second = deepFreeze({ server: shared, v: 2 });
    for (let i = 0; i < 2; i += 1) {
      assert.equal(configHash(first), configHash(clone(first)));
      assert.equal(configHash(second), configHash(clone(second)));
      assert.equal(configHash({ tls: shared.tls }), configHash(clone({ tls: shared.tls })));
    }
    assert.notEqual(configHash(first), configHash(second));
    assert.deepEqual(changedPaths(first, second), ['v']);
    assert.deepEqual(changedPaths(first, deepFreeze({ server: { ...shared, port: 80 }, v: 1 })), ['server.port']);
  });

  test('only plain data is stable: a Map, a class instance or a getter (and what holds them) is not', () => {
    let n = 1;
    const withGetter = {
      get n() {
        return n;
      },
    };
    const map = new Map([['k', 1]]);
    const value = freezeStable({ plain: { a: [1] }, holder: { map }, date: new Date(0), withGetter });
    assert.ok(isStable(value.plain));
    assert.ok(Object.isFrozen(value.holder));
    for (const o of [value, value.holder, map, value.date, withGetter]) assert.equal(isStable(o), false);
    configHash(value);
    map.set('k2', 2);
    n = 2;
    assert.equal(configHash(value), configHash({ plain: { a: [1] }, holder: { map: new Map(map) }, date: new Date(0), withGetter: { n: 2 } }));
  });

  test('new parts around a stable subtree are frozen', () => {
    const shared = freezeStable({ x: [1] });
    const next = deepFreeze({ shared, fresh: { y: [2] } });
    assert.ok(Object.isFrozen(next.fresh.y));
    assert.ok(Object.isFrozen(next));
  });
});

describe('changedPaths', () => {
  test('lists leaf paths, never values', () => {
    const prev = { server: { port: 80, host: 'a' }, backends: [{ url: 'x' }], password: 'hunter2' };
    const next = { server: { port: 81, host: 'a' }, backends: [{ url: 'y' }, { url: 'z' }], password: 'letmein' };
    const paths = changedPaths(prev, next);
    assert.deepEqual(paths.sort(), ['backends[0].url', 'backends[1].url', 'password', 'server.port']);
    assert.ok(!JSON.stringify(paths).includes('hunter2'));
    assert.ok(!JSON.stringify(paths).includes('letmein'));
  });

  test('added and removed subtrees report their leaves; type changes report the path', () => {
    assert.deepEqual(changedPaths({}, { a: { b: 1, c: { d: 2 } } }), ['a.b', 'a.c.d']);
    assert.deepEqual(changedPaths({ a: { b: 1 } }, {}), ['a.b']);
    assert.deepEqual(changedPaths({ a: { b: 1 } }, { a: 5 }), ['a']);
    assert.deepEqual(changedPaths({ 'x.y': 1 }, { 'x.y': 2 }), ['["x.y"]']);
    assert.deepEqual(changedPaths({ a: [] }, { a: {} }), ['a']);
  });

  test('property: no change iff the configs are deep-equal', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        const wrapA = { v: a };
        const wrapB = { v: b };
        assert.equal(changedPaths(wrapA, wrapB).length === 0, deepEqual(wrapA, wrapB));
      }),
    );
  });
});

describe('paths and patterns', () => {
  test('formatPath quotes keys that are not identifiers', () => {
    assert.equal(formatPath(['server', 'port']), 'server.port');
    assert.equal(formatPath(['backends', 0, 'url']), 'backends[0].url');
    assert.equal(formatPath(['labels', 'a.b']), 'labels["a.b"]');
  });

  test('parsePattern accepts wildcards and rejects malformed patterns', () => {
    assert.deepEqual(parsePattern('backends[*].url'), [{ key: 'backends' }, { any: 'index' }, { key: 'url' }]);
    assert.deepEqual(parsePattern('database.*'), [{ key: 'database' }, { any: 'key-or-index' }]);
    for (const bad of ['', 'a.', 'a[', 'a[x]', 'a..b']) assert.throws(() => parsePattern(bad), /invalid path pattern/);
  });
});

describe('RestartMatcher', () => {
  const m = new RestartMatcher(['server.listen', 'database.*', 'backends[*].url']);
  const boot = {
    server: { listen: ':80', timeout: 5 },
    database: { host: 'db', pool: { size: 5 } },
    backends: [{ name: 'a', url: 'http://a' }],
  };

  test('reports concrete paths that differ from the boot config', () => {
    const next = {
      server: { listen: ':81', timeout: 9 },
      database: { host: 'db', pool: { size: 6 } },
      backends: [
        { name: 'b', url: 'http://a' },
        { name: 'c', url: 'http://c' },
      ],
    };
    assert.deepEqual(m.diff(boot, next), ['backends[1].url', 'database.pool', 'server.listen']);
  });

  test('a removed section reports its former children', () => {
    assert.deepEqual(m.diff(boot, { server: boot.server, backends: boot.backends }), ['database.host', 'database.pool']);
  });

  test('nothing when only non-restart paths change', () => {
    assert.deepEqual(m.diff(boot, { ...boot, server: { listen: ':80', timeout: 99 } }), []);
  });
});
