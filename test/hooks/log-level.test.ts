import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { z } from 'zod';
import { createReloader, logLevelHook, type ConfigOf, type Hook } from '../../src/index.js';
import { MemorySource } from '../helpers/memory-source.js';

const schema = z.object({ log: z.object({ level: z.string() }), port: z.number() });
type Config = ConfigOf<typeof schema>;

/** A real pino logger writing JSON lines into an array. */
function capturingLogger(level = 'info', customLevels?: Record<string, number>) {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino(
    { level, ...(customLevels ? { customLevels } : {}) },
    { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) },
  );
  return { logger, lines };
}

/** Every reloader a test started, closed after it whether it passed or failed. */
const open: { close(): Promise<void> }[] = [];
afterEach(() => Promise.all(open.splice(0).map((r) => r.close())));

async function reloaderWith(hooks: readonly Hook<Config>[], level = 'info', onApplyFailure?: 'rollback') {
  const source = new MemorySource({ log: { level }, port: 1 });
  const r = createReloader({ source, schema, hooks, ...(onApplyFailure ? { onApplyFailure } : {}) });
  open.push(r);
  await r.start();
  return { r, source };
}

describe('logLevelHook', () => {
  test('a changed level is applied to the logger and debug lines start to appear', async () => {
    const { logger, lines } = capturingLogger('info');
    const { r, source } = await reloaderWith([logLevelHook(logger, 'log.level')]);
    logger.debug('before');
    source.set({ log: { level: 'debug' }, port: 1 });
    const res = await r.reload();
    assert.equal(res.status, 'full_success');
    assert.deepEqual(
      res.outcomes.map((o) => [o.name, o.status]),
      [['log-level', 'applied']],
    );
    assert.equal(logger.level, 'debug');
    logger.debug('after');
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['after'],
    );
  });

  test('the same level again is skipped', async () => {
    const { logger } = capturingLogger('info');
    const { r, source } = await reloaderWith([logLevelHook(logger, 'log.level')]);
    source.set({ log: { level: 'info' }, port: 2 });
    const res = await r.reload();
    assert.equal(res.status, 'full_success');
    assert.equal(res.outcomes[0]!.status, 'skipped');
    assert.equal(logger.level, 'info');
  });

  test('an unknown level fails the check, lists the valid levels, and changes nothing', async () => {
    const { logger } = capturingLogger('info');
    const { r, source } = await reloaderWith([logLevelHook(logger, 'log.level')]);
    source.set({ log: { level: 'loud' }, port: 2 });
    const res = await r.reload();
    assert.equal(res.status, 'validation_failed');
    assert.equal(res.generation, 0);
    assert.match(res.error!, /log level "loud" \(at log\.level\) is not a pino level; valid levels: trace, debug, info, warn, error, fatal, silent/);
    assert.equal(logger.level, 'info');
    assert.equal(r.current().port, 1);
  });

  test('custom pino levels and silent are valid', async () => {
    const { logger } = capturingLogger('info', { audit: 35 });
    const { r, source } = await reloaderWith([logLevelHook(logger, 'log.level')]);
    source.set({ log: { level: 'audit' }, port: 1 });
    assert.equal((await r.reload()).status, 'full_success');
    assert.equal(logger.level, 'audit');
    source.set({ log: { level: 'silent' }, port: 1 });
    assert.equal((await r.reload()).status, 'full_success');
    assert.equal(logger.level, 'silent');
    source.set({ log: { level: 'nope' }, port: 1 });
    const res = await r.reload();
    assert.match(res.error!, /valid levels: trace, debug, info, audit, warn, error, fatal, silent/);
  });

  test('a path that is missing in the config is a clear check failure', async () => {
    const { logger } = capturingLogger('info');
    const hook = logLevelHook(logger, 'logging.level') as unknown as Hook<Config>;
    const { r, source } = await reloaderWith([hook]);
    source.set({ log: { level: 'debug' }, port: 1 });
    const res = await r.reload();
    assert.equal(res.status, 'validation_failed');
    assert.match(res.error!, /log-level: no log level at logging\.level/);
  });

  test('a selector works like a path', async () => {
    const { logger } = capturingLogger('warn');
    const { r, source } = await reloaderWith([logLevelHook(logger, (c: Config) => c.log.level, { name: 'root-level' })], 'warn');
    source.set({ log: { level: 'error' }, port: 1 });
    const res = await r.reload();
    assert.deepEqual(
      res.outcomes.map((o) => [o.name, o.status]),
      [['root-level', 'applied']],
    );
    assert.equal(logger.level, 'error');
  });

  test('a wildcard or malformed path is refused when the hook is created', () => {
    const { logger } = capturingLogger();
    assert.throws(() => logLevelHook(logger, 'log.*'), /bad path "log\.\*".*wildcards/);
    assert.throws(() => logLevelHook(logger, 'log..level'), /bad path "log\.\.level"/);
  });

  test('under policy rollback the previous level comes back', async () => {
    const { logger } = capturingLogger('info');
    const failing: Hook<Config> = { name: 'boom', apply: () => 'failed' };
    const { r, source } = await reloaderWith([logLevelHook(logger, 'log.level'), failing], 'info', 'rollback');
    source.set({ log: { level: 'trace' }, port: 1 });
    const res = await r.reload();
    assert.equal(res.status, 'rolled_back');
    assert.equal(logger.level, 'info');
  });
});
