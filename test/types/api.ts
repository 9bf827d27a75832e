// Type tests of the public API: `npm run typecheck` compiles this file; it
// never runs. Each `@ts-expect-error` is a misuse that must not compile: if
// the error disappears (the API got looser), the directive itself fails.
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Server } from 'node:https';
import * as v from 'valibot';
import { z } from 'zod';
import {
  createReloader,
  dirSource,
  envSource,
  fileSource,
  layers,
  logLevelHook,
  onChange,
  tlsHook,
  type ConfigOf,
  type ConfigSource,
  type DeepReadonly,
  type Hook,
  type HookContext,
  type ReloadResult,
  type ReloadStatus,
} from '../../src/index.js';
import { expectType } from './expect.js';

declare const source: ConfigSource;
declare const server: Server;
const logger = pino();

const schema = z.object({
  server: z.object({ port: z.number().int(), host: z.string().default('0.0.0.0') }),
  log: z.object({ level: z.enum(['debug', 'info', 'warn']).default('info') }),
  upstream: z.object({ url: z.string(), timeout_ms: z.number().optional() }),
  tls: z.object({ cert_file: z.string(), key_file: z.string() }),
  backends: z.array(z.object({ name: z.string(), weight: z.number() })),
});
type Config = ConfigOf<typeof schema>;

// ---- the helper itself: a mismatch must not compile -------------------------
expectType<number>()(1 as number);
// @ts-expect-error string is not number
expectType<number>()('x');
// @ts-expect-error assignable is not enough: 1 is narrower than number
expectType<number>()(1 as const);

// ---- current(): the schema's OUTPUT type, deep-readonly ---------------------
const r = createReloader({ source, schema });
const cfg = r.current();
expectType<number>()(cfg.server.port);
expectType<string>()(cfg.server.host); // default() makes it non-optional in the output
expectType<'debug' | 'info' | 'warn'>()(cfg.log.level);
expectType<number | undefined>()(cfg.upstream.timeout_ms);
expectType<readonly DeepReadonly<{ name: string; weight: number }>[]>()(cfg.backends);
expectType<Config>()(cfg);
expectType<Config>()({} as ConfigOf<typeof r>);

// @ts-expect-error snapshots are read-only
cfg.server.port = 1;
// @ts-expect-error nested arrays too
cfg.backends.push({ name: 'x', weight: 1 });
// @ts-expect-error and their elements
cfg.backends[0]!.weight = 2;
// @ts-expect-error no such key
void cfg.server.nope;

// Objects a schema transform builds are read-only too, and still fit where their type is expected.
const built = createReloader({
  source,
  schema: z.object({
    url: z.string().transform((s) => new URL(s)),
    since: z.string().transform((s) => new Date(s)),
    hosts: z.record(z.string(), z.number()).transform((r) => new Map(Object.entries(r))),
    tags: z.array(z.string()).transform((a) => new Set(a)),
  }),
}).current();
expectType<string>()(built.url.href);
const asUrl: URL = built.url; // fetch(built.url) works
const asDate: Date = built.since;
void [asUrl, asDate];
expectType<number | undefined>()(built.hosts.get('a'));
// @ts-expect-error a URL's parts are read-only
built.url.href = 'https://elsewhere.example/';
// @ts-expect-error and its search params
built.url.searchParams.set('q', '1');
// @ts-expect-error a Date's setters are gone
built.since.setFullYear(2000);
// @ts-expect-error a Map is a ReadonlyMap
built.hosts.set('b', 2);
// @ts-expect-error a Set is a ReadonlySet
built.tags.add('x');

// Any Standard Schema validator: valibot infers just the same.
const vr = createReloader({ source, schema: v.object({ port: v.number(), name: v.optional(v.string(), 'app') }) });
expectType<number>()(vr.current().port);
expectType<string>()(vr.current().name);

// No schema: the config is unknown until the caller narrows it.
expectType<unknown>()(createReloader({ source }).current());

// ---- hooks receive typed old/new --------------------------------------------
createReloader({
  source,
  schema,
  hooks: [
    {
      name: 'typed',
      check: (old, next) => {
        expectType<Config>()(old);
        expectType<number>()(next.server.port);
      },
      apply: (ctx, old, next) => {
        expectType<HookContext>()(ctx);
        expectType<AbortSignal>()(ctx.signal);
        expectType<string>()(next.upstream.url);
        expectType<Config>()(old);
        return next.server.port === old.server.port ? 'skipped' : 'applied';
      },
      rollback: (_ctx, old) => {
        expectType<Config>()(old);
      },
    },
  ],
});

// args: 'next-prev': every phase takes (next, prev, ctx), typed from the schema.
createReloader({
  source,
  schema,
  hooks: [
    {
      name: 'next-prev',
      args: 'next-prev',
      check: (next, prev, ctx) => {
        expectType<number>()(next.server.port);
        expectType<Config>()(prev);
        expectType<HookContext>()(ctx);
      },
      apply: (next, prev, ctx) => {
        expectType<AbortSignal>()(ctx.signal);
        return next.server.port === prev.server.port ? 'skipped' : 'applied';
      },
      rollback: (next, prev) => void [next.upstream.url, prev.upstream.url],
      afterCommit: (next, prev, ctx) => void [next, prev, ctx.unit],
    },
  ],
});
createReloader({
  source,
  schema,
  hooks: [
    // @ts-expect-error with args: 'next-prev' the context comes last, not first
    {
      name: 'ctx-first',
      args: 'next-prev',
      apply: (ctx: HookContext, old: Config, next: Config) => void [ctx, old, next],
    },
  ],
});
// @ts-expect-error args names the order; there is no other
createReloader({ source, schema, hooks: [{ name: 'x', args: 'prev-next', apply: () => {} }] });

createReloader({
  source,
  schema,
  hooks: [
    {
      name: 'wrong-key',
      // @ts-expect-error a key the config does not have
      apply: (_ctx, _old, next) => void next.upstream.uri,
    },
  ],
});

createReloader({
  source,
  schema,
  hooks: [
    // @ts-expect-error a hook without args: 'next-prev' is in the 0.1 order: apply(ctx, old, next) takes the context first
    {
      name: 'wrong-order',
      apply: (old: Config, next: Config) => void [old, next],
    },
  ],
});

createReloader({
  source,
  schema,
  hooks: [
    {
      name: 'wrong-return',
      // @ts-expect-error apply returns applied | skipped | failed (or nothing), not a number
      apply: () => 42,
    },
  ],
});

createReloader({
  source,
  schema,
  hooks: [
    {
      name: 'readonly',
      apply: (_ctx, _old, next) => {
        // @ts-expect-error hooks see the snapshot read-only
        next.server.port = 1;
      },
    },
  ],
});

// A hook typed for another config does not fit.
declare const otherHook: Hook<{ database: { url: string } }>;
// @ts-expect-error Hook<{database…}> is not a hook for this config
createReloader({ source, schema, hooks: [otherHook] });

// Hooks never widen the config type inferred from the schema.
const widened = createReloader({ source, schema, hooks: [{ name: 'loose', apply: (_c, _o, _n: unknown) => {} }] });
expectType<Config>()(widened.current());

// ---- subscribe: typed selectors ---------------------------------------------
r.subscribe(
  (c) => c.upstream.url,
  (next, prev, result) => {
    expectType<string>()(next);
    expectType<string>()(prev);
    expectType<ReloadResult>()(result);
  },
);
r.subscribe(
  (c) => c.backends,
  (next) => expectType<Config['backends']>()(next),
);
// @ts-expect-error the selector reads a key that does not exist
r.subscribe((c) => c.upstream.uri, () => {});
// @ts-expect-error the callback's value type follows the selector
r.subscribe((c) => c.server.port, (next: string) => void next);

// ---- option names and values ------------------------------------------------
// @ts-expect-error misspelt option
createReloader({ sourcee: source });
// @ts-expect-error unknown policy
createReloader({ source, onApplyFailure: 'rollbak' });
// @ts-expect-error restart policy is warn | reject
createReloader({ source, restartRequired: { paths: ['server.port'], policy: 'warning' } });
// @ts-expect-error trigger names
createReloader({ source, triggers: { sighup: true } });
// @ts-expect-error the per-hook timeout is applyTimeoutMs
createReloader({ source, hooks: [{ name: 'h', apply: () => {}, applyTimeout: 5 }] });
createReloader({ source, hooks: [{ name: 'h', apply: () => {}, applyTimeoutMs: 5 }] });
// @ts-expect-error reload takes a known trigger
void r.reload({ trigger: 'cron' });
void r.reload({ ifChanged: true, trigger: 'rescan' });
// @ts-expect-error ifChanged is a boolean
void r.reload({ ifChanged: 'yes' });
createReloader({ source, triggers: { poll: '30s' } });
createReloader({ source, triggers: { poll: 30_000 } });
// @ts-expect-error poll is a duration, milliseconds or false
createReloader({ source, triggers: { poll: true } });
createReloader({ source: layers([fileSource('base.yaml'), dirSource('conf.d'), envSource({ prefix: 'APP_', separator: '__' })]) });
// @ts-expect-error envSource needs a prefix
envSource({ separator: '__' });

// A prom-client Registry is what `registry` takes (typed without prom-client).
createReloader({ source, registry: new Registry() });
// @ts-expect-error not a registry
createReloader({ source, registry: {} });

// ---- results ----------------------------------------------------------------
async function results(): Promise<void> {
  const res = await r.reload();
  expectType<ReloadStatus>()(res.status);
  expectType<number>()(res.generation);
  expectType<string[]>()(res.requires_restart);
  expectType<Record<string, string> | undefined>()(res.changed_from);
  // @ts-expect-error status values are a closed set
  if (res.status === 'success') return;
  const last = r.lastResult();
  // @ts-expect-error null until the first reload
  void last.status;
}
void results;

// ---- built-in hooks: paths are checked against the config -------------------
createReloader({
  source,
  schema,
  hooks: [
    logLevelHook(logger, 'log.level'),
    logLevelHook(logger, (c: Config) => c.log.level, { name: 'selector-level' }),
    tlsHook(server, { cert: 'tls.cert_file', key: 'tls.key_file' }),
    tlsHook(() => server, { cert: (c: Config) => c.tls.cert_file, key: (c: Config) => c.tls.key_file, name: 'tls-2' }),
    onChange('upstream.url', (next: string, prev: string, ctx) => {
      expectType<HookContext>()(ctx);
      void [next, prev];
    }),
    onChange('upstream', (next, prev) => void [next, prev]),
    onChange('upstream.timeout_ms', (next: number | undefined) => void next),
    onChange('backends[0].weight', (next: number) => void next),
    onChange(
      (c: Config) => c.backends.map((b) => b.name),
      (next) => expectType<string[]>()(next),
    ),
  ],
});

// @ts-expect-error typo in the path
createReloader({ source, schema, hooks: [logLevelHook(logger, 'log.levle')] });
// @ts-expect-error the path leads to a number, not a level string
createReloader({ source, schema, hooks: [logLevelHook(logger, 'server.port')] });
// @ts-expect-error typo in the key path
createReloader({ source, schema, hooks: [tlsHook(server, { cert: 'tls.cert_file', key: 'tls.key' })] });
// @ts-expect-error tls options are cert and key
tlsHook(server, { certificate: 'tls.cert_file', key: 'tls.key_file' });
// @ts-expect-error the value at upstream.url is a string
createReloader({ source, schema, hooks: [onChange('upstream.url', (next: number) => void next)] });
// @ts-expect-error an optional value must be accepted as possibly undefined
createReloader({ source, schema, hooks: [onChange('upstream.timeout_ms', (next: number) => void next)] });
// @ts-expect-error no such slice
createReloader({ source, schema, hooks: [onChange('upstream.uri', () => {})] });
// @ts-expect-error the selector's parameter must be typed (or use a dotted path)
onChange((c) => c.upstream, () => {});
// onChange.of<Config>(): the path is checked against the config and next/prev are typed from it.
const on = onChange.of<Config>();
createReloader({
  source,
  schema,
  hooks: [
    on('upstream.url', (next, prev, ctx) => {
      expectType<string>()(next);
      expectType<string>()(prev);
      expectType<HookContext>()(ctx);
    }),
    on('upstream.timeout_ms', (next) => expectType<number | undefined>()(next)),
    // An index may be past the end of the list.
    on('backends[0].weight', (next) => expectType<number | undefined>()(next)),
    on('log', (next) => expectType<Config['log']>()(next)),
    on((c) => c.backends.length, (next) => expectType<number>()(next)),
  ],
});
// @ts-expect-error a path the config does not have
on('upstream.uri', () => {});
// @ts-expect-error the value at the path is a string
on('upstream.url', (next: number) => void next);
// @ts-expect-error check's slices are typed too
on('server.port', () => {}, { check: (next: string) => void next });

// @ts-expect-error onChange's fn must return an apply result
onChange('upstream.url', () => 5);
// @ts-expect-error a logger needs a level and pino's level table
logLevelHook(console, 'log.level');
