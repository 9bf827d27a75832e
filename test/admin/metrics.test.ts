// The documented metrics: names, labels pre-created at 0, valid exposition text, and
// counters that move with real reloads.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createReloadMetrics } from '../../src/admin/metrics.js';
import { Unit } from '../../src/engine/unit.js';
import { createReloader, fileSource, RELOAD_STATUSES, TRIGGERS } from '../../src/index.js';
import { signatureFor } from '../../src/integrity/keys.js';
import { MemorySource } from '../helpers/memory-source.js';
import pkg from '../../package.json' with { type: 'json' };
import { parseExposition, sampleValue } from './prom-text.js';
import { command, gateHook, startApp, tempDir } from './support.js';
import { waitFor } from '../helpers/wait.js';

const OUR_METRICS: Record<string, string> = {
  reloadkit_reload_requests_total: 'counter',
  reloadkit_reloads_total: 'counter',
  reloadkit_reload_coalesced_total: 'counter',
  reloadkit_reload_duration_seconds: 'histogram',
  reloadkit_last_reload_successful: 'gauge',
  reloadkit_last_reload_success_timestamp_seconds: 'gauge',
  reloadkit_config_generation: 'gauge',
  reloadkit_pending_restart: 'gauge',
  reloadkit_watch_events_total: 'counter',
  reloadkit_watch_errors_total: 'counter',
  reloadkit_signature_failures_total: 'counter',
  reloadkit_persist_failures_total: 'counter',
  reloadkit_build_info: 'gauge',
};

async function scrape(registry: Registry) {
  return parseExposition(await registry.metrics());
}

describe('exposition', () => {
  test('every documented name with HELP and TYPE, every label pre-created at 0, default process metrics', async () => {
    const registry = new Registry();
    const before = Date.now() / 1000;
    const app = await startApp({ registry });
    try {
      const exp = await scrape(registry);
      for (const [name, type] of Object.entries(OUR_METRICS)) {
        assert.equal(exp.type.get(name), type, `TYPE of ${name}`);
        assert.ok((exp.help.get(name) ?? '').length > 0, `HELP of ${name}`);
      }
      for (const status of RELOAD_STATUSES) assert.equal(sampleValue(exp, 'reloadkit_reloads_total', { unit: 'app', status }), 0, status);
      for (const trigger of TRIGGERS) assert.equal(sampleValue(exp, 'reloadkit_reload_requests_total', { unit: 'app', trigger }), 0, trigger);
      assert.equal(sampleValue(exp, 'reloadkit_reload_coalesced_total', { unit: 'app' }), 0);
      assert.equal(sampleValue(exp, 'reloadkit_signature_failures_total', { unit: 'app' }), 0);
      assert.equal(sampleValue(exp, 'reloadkit_persist_failures_total', { unit: 'app' }), 0);
      assert.equal(sampleValue(exp, 'reloadkit_reload_duration_seconds_count', { unit: 'app' }), 0);
      assert.equal(sampleValue(exp, 'reloadkit_config_generation', { unit: 'app' }), 0);
      assert.equal(sampleValue(exp, 'reloadkit_pending_restart', { unit: 'app' }), 0);
      assert.equal(sampleValue(exp, 'reloadkit_watch_events_total'), 0);
      assert.equal(sampleValue(exp, 'reloadkit_watch_errors_total'), 0);
      // One build_info series: this package's version and the running Node.js, value 1.
      assert.deepEqual(
        exp.samples.filter((s) => s.name === 'reloadkit_build_info').map((s) => [s.labels, s.value]),
        [[{ version: pkg.version, node: process.versions.node }, 1]],
      );
      // The initial load is the first success.
      assert.equal(sampleValue(exp, 'reloadkit_last_reload_successful', { unit: 'app' }), 1);
      assert.ok(sampleValue(exp, 'reloadkit_last_reload_success_timestamp_seconds', { unit: 'app' })! >= Math.floor(before));
      assert.equal(exp.type.get('process_cpu_user_seconds_total'), 'counter');
      assert.ok(exp.samples.some((s) => s.name.startsWith('nodejs_')));
    } finally {
      await app.cleanup();
    }
  });

  test('the checker rejects what is not exposition text', () => {
    assert.throws(() => parseExposition('reloadkit_x{unit=app} 1\n'), /not valid/);
    assert.throws(() => parseExposition('reloadkit x 1\n'), /not valid/);
    assert.throws(() => parseExposition('# TYPE x countr\n'), /malformed/);
    assert.equal(parseExposition('a_b{c="d\\"e"} +Inf\n').samples[0]!.value, Infinity);
  });
});

describe('counters move with reloads', () => {
  test('success, failure, recovery: statuses, triggers, generation, duration, last success', async () => {
    const registry = new Registry();
    const app = await startApp({ registry });
    try {
      app.write('port: 1\n');
      await app.r.reload();
      assert.equal((await command(app.socketPath, 'reload')).status, 'ok');
      let exp = await scrape(registry);
      assert.equal(sampleValue(exp, 'reloadkit_reloads_total', { unit: 'app', status: 'full_success' }), 2);
      assert.equal(sampleValue(exp, 'reloadkit_reload_requests_total', { unit: 'app', trigger: 'api' }), 1);
      assert.equal(sampleValue(exp, 'reloadkit_reload_requests_total', { unit: 'app', trigger: 'socket' }), 1);
      assert.equal(sampleValue(exp, 'reloadkit_config_generation', { unit: 'app' }), 2);
      assert.equal(sampleValue(exp, 'reloadkit_reload_duration_seconds_count', { unit: 'app' }), 2);
      const ts = sampleValue(exp, 'reloadkit_last_reload_success_timestamp_seconds', { unit: 'app' })!;

      unlinkSync(app.configPath);
      assert.equal((await app.r.reload()).status, 'load_failed');
      exp = await scrape(registry);
      assert.equal(sampleValue(exp, 'reloadkit_reloads_total', { unit: 'app', status: 'load_failed' }), 1);
      assert.equal(sampleValue(exp, 'reloadkit_last_reload_successful', { unit: 'app' }), 0);
      assert.equal(sampleValue(exp, 'reloadkit_config_generation', { unit: 'app' }), 2);
      assert.equal(sampleValue(exp, 'reloadkit_last_reload_success_timestamp_seconds', { unit: 'app' }), ts);

      app.write('port: 2\n');
      await app.r.reload();
      exp = await scrape(registry);
      assert.equal(sampleValue(exp, 'reloadkit_last_reload_successful', { unit: 'app' }), 1);
      assert.equal(sampleValue(exp, 'reloadkit_config_generation', { unit: 'app' }), 3);
    } finally {
      await app.cleanup();
    }
  });

  test('coalesced requests are counted', async () => {
    const registry = new Registry();
    const gate = gateHook();
    const app = await startApp({ registry, hooks: [gate] });
    try {
      gate.hold();
      const first = app.r.reload();
      await waitFor(() => gate.entered === 1, 'the first pass to block');
      const waiters = [app.r.reload(), app.r.reload(), app.r.reload()];
      gate.release();
      await Promise.all([first, ...waiters]);
      const exp = await scrape(registry);
      assert.equal(sampleValue(exp, 'reloadkit_reload_coalesced_total', { unit: 'app' }), 2);
      assert.equal(sampleValue(exp, 'reloadkit_reload_requests_total', { unit: 'app', trigger: 'api' }), 4);
      assert.equal(sampleValue(exp, 'reloadkit_reloads_total', { unit: 'app', status: 'full_success' }), 2);
    } finally {
      gate.release();
      await app.cleanup();
    }
  });

  test('pending restart counts restart-required changes', async () => {
    const registry = new Registry();
    const app = await startApp({ registry, restartRequired: { paths: ['port'] } });
    try {
      app.write('port: 9\nlevel: info\n');
      await app.r.reload();
      assert.equal(sampleValue(await scrape(registry), 'reloadkit_pending_restart', { unit: 'app' }), 1);
    } finally {
      await app.cleanup();
    }
  });

  test('a config whose signature does not verify counts a signature failure', async () => {
    const { dir, cleanup } = tempDir();
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const config = join(dir, 'config.yaml');
    const sign = (text: string) => {
      writeFileSync(config, text);
      writeFileSync(`${config}.sig`, signatureFor(privateKey, Buffer.from(text)));
    };
    sign('port: 1\n');
    const registry = new Registry();
    const r = createReloader({ source: fileSource(config), signature: { publicKey }, registry });
    try {
      await r.start();
      writeFileSync(config, 'port: 2\n');
      assert.equal((await r.reload()).status, 'load_failed');
      const exp = await scrape(registry);
      assert.equal(sampleValue(exp, 'reloadkit_signature_failures_total', { unit: 'app' }), 1);
      assert.equal(sampleValue(exp, 'reloadkit_reloads_total', { unit: 'app', status: 'load_failed' }), 1);
      sign('port: 3\n');
      assert.equal((await r.reload()).status, 'full_success');
      assert.equal(sampleValue(await scrape(registry), 'reloadkit_signature_failures_total', { unit: 'app' }), 1);
    } finally {
      await r.close();
      cleanup();
    }
  });

  test('a failed write of the last known good config counts a persist failure; the pass still commits', async () => {
    const { dir, cleanup } = tempDir();
    const config = join(dir, 'config.yaml');
    writeFileSync(config, 'port: 1\n');
    // The persist directory is a regular file: every write fails with ENOTDIR, even as root.
    const notADir = join(dir, 'not-a-dir');
    writeFileSync(notADir, 'x');
    const registry = new Registry();
    const r = createReloader({ source: fileSource(config), persist: { path: join(notADir, 'lkg.json') }, registry });
    try {
      await r.start();
      await waitFor(async () => sampleValue(await scrape(registry), 'reloadkit_persist_failures_total', { unit: 'app' }) === 1, 'the start write to fail');
      writeFileSync(config, 'port: 2\n');
      assert.equal((await r.reload()).status, 'full_success');
      assert.deepEqual(r.current(), { port: 2 });
      await waitFor(async () => sampleValue(await scrape(registry), 'reloadkit_persist_failures_total', { unit: 'app' }) === 2, 'the reload write to fail');
    } finally {
      await r.close();
      cleanup();
    }
  });

  test('two reloaders can share one registry', async () => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const a = await startApp({ registry, name: 'a' });
    const b = await startApp({ registry, name: 'b' });
    try {
      await b.r.reload();
      const exp = await scrape(registry);
      assert.equal(sampleValue(exp, 'reloadkit_config_generation', { unit: 'a' }), 0);
      assert.equal(sampleValue(exp, 'reloadkit_config_generation', { unit: 'b' }), 1);
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });
});

describe('ReloadMetrics API (for the daemon)', () => {
  test('json(): the shape nginx-reload daemons use; last_reload only after a successful reload', async () => {
    const metrics = await createReloadMetrics();
    const src = new MemorySource({ a: 1 });
    const unit = new Unit<unknown>({ name: 'u', source: src });
    await unit.start();
    metrics.attachUnit(unit);
    assert.deepEqual(metrics.json(), { reloads: 0, failures: 0, deduplicated: 0 });
    src.fail('nope');
    await unit.reload();
    assert.deepEqual(metrics.json(), { reloads: 0, failures: 1, deduplicated: 0 });
    src.set({ a: 2 });
    await unit.reload();
    const j = metrics.json();
    assert.equal(j.reloads, 1);
    assert.match(j.last_reload!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(Object.keys(j), ['reloads', 'failures', 'deduplicated', 'last_reload']);
    await unit.close();
  });

  test("watch and signature counters; detachUnit removes the unit's series and stops counting", async () => {
    const metrics = await createReloadMetrics();
    const unit = new Unit<unknown>({ name: 'gone', source: new MemorySource({ a: 1 }) });
    await unit.start();
    metrics.attachUnit(unit);
    metrics.watchEvent();
    metrics.watchEvent();
    metrics.watchError();
    metrics.signatureFailure('gone');
    let exp = parseExposition(await metrics.text());
    assert.equal(sampleValue(exp, 'reloadkit_watch_events_total'), 2);
    assert.equal(sampleValue(exp, 'reloadkit_watch_errors_total'), 1);
    assert.equal(sampleValue(exp, 'reloadkit_signature_failures_total', { unit: 'gone' }), 1);
    metrics.detachUnit('gone');
    await unit.reload();
    exp = parseExposition(await metrics.text());
    assert.equal(exp.samples.filter((s) => s.labels.unit === 'gone').length, 0);
    assert.equal(metrics.json().reloads, 0);
    await unit.close();
  });
});
