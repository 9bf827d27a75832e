// Signal triggers in this process: validation, listener bookkeeping, and a
// real SIGUSR2 sent to ourselves while a reloader listens for it. (SIGHUP
// with a real child process: test/integration/sighup.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReloader, type ConfigSource } from '../../src/index.js';
import { checkSignals, onSignals } from '../../src/triggers/signal.js';
import { waitFor } from '../helpers/wait.js';

const source = (value: unknown): ConfigSource => ({ description: 'memory', load: async () => ({ value, files: [] }) });

test('checkSignals: names that are not catchable signals are refused clearly', () => {
  assert.deepEqual(checkSignals(['SIGHUP', 'SIGUSR2']), ['SIGHUP', 'SIGUSR2']);
  assert.throws(() => checkSignals(['SIGFOO']), /"SIGFOO" is not a signal name/);
  assert.throws(() => checkSignals(['hup']), /"hup" is not a signal name/);
  assert.throws(() => checkSignals([1]), /1 is not a signal name/);
  assert.throws(() => checkSignals(['SIGKILL']), /SIGKILL cannot be used/);
  assert.throws(() => checkSignals(['SIGSTOP']), /SIGSTOP cannot be used/);
});

test('createReloader refuses a bad triggers.signal before anything starts', () => {
  assert.throws(() => createReloader({ source: source({}), triggers: { signal: 'SIGNOPE' as never } }), /not a signal name/);
  assert.throws(() => createReloader({ source: source({}), triggers: { signal: ['SIGHUP', 'SIGKILL'] } }), /SIGKILL cannot be used/);
});

test('onSignals adds one listener per signal and its remover takes them away (twice is safe)', () => {
  const before = [process.listenerCount('SIGUSR1'), process.listenerCount('SIGUSR2')];
  const off = onSignals(['SIGUSR1', 'SIGUSR2'], () => {});
  assert.deepEqual([process.listenerCount('SIGUSR1'), process.listenerCount('SIGUSR2')], [before[0]! + 1, before[1]! + 1]);
  off();
  off();
  assert.deepEqual([process.listenerCount('SIGUSR1'), process.listenerCount('SIGUSR2')], before);
});

test('a real signal to this process starts a pass with trigger signal; after close() the listener is gone', async (t) => {
  const before = process.listenerCount('SIGUSR2');
  const r = createReloader({ source: source({ a: 1 }), triggers: { signal: 'SIGUSR2' } });
  t.after(() => r.close());
  assert.equal(process.listenerCount('SIGUSR2'), before, 'nothing is installed before start()');
  await r.start();
  assert.equal(process.listenerCount('SIGUSR2'), before + 1);
  process.kill(process.pid, 'SIGUSR2');
  await waitFor(() => r.history().length === 1, 'a pass after SIGUSR2');
  assert.equal(r.lastResult()!.trigger, 'signal');
  assert.equal(r.lastResult()!.status, 'full_success');
  await r.close();
  assert.equal(process.listenerCount('SIGUSR2'), before);
  await r.close();
  assert.equal(process.listenerCount('SIGUSR2'), before);
});
