// The daemon's logger: lines logged before pino is loaded come out in
// order once it is, at the level in effect when they were logged; the level
// can change at any time.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { DaemonLog } from '../../src/daemon/log.js';

const tmp = mkdtempSync(join(tmpdir(), 'rk-log-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function lines(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

it('buffers early lines, writes them in order once pino is loaded, and follows level changes', async () => {
  const file = join(tmp, 'out.log');
  const fd = openSync(file, 'w');
  try {
    const log = new DaemonLog('info', fd);
    log.info({ n: 1 }, 'early info');
    log.debug({ n: 2 }, 'early debug (filtered)');
    log.level = 'debug';
    log.debug({ n: 3 }, 'early debug (kept)');
    assert.equal(readFileSync(file, 'utf8'), '', 'nothing is written before pino is loaded');
    await log.ready();
    log.warn({ n: 4 }, 'after');
    log.level = 'error';
    log.warn({ n: 5 }, 'filtered after');
    log.error({ n: 6, unit: 'x' }, 'error');
    const got = lines(file);
    assert.deepEqual(
      got.map((l) => [l.level, l.n, l.msg]),
      [
        ['info', 1, 'early info'],
        ['debug', 3, 'early debug (kept)'],
        ['warn', 4, 'after'],
        ['error', 6, 'error'],
      ],
    );
    assert.equal(got[0]!.pid, process.pid);
    assert.match(String(got[0]!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(log.level, 'error');
    assert.throws(() => {
      log.level = 'loud';
    }, /unknown log level "loud"/);
  } finally {
    closeSync(fd);
  }
});
