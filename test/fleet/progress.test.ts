// What `reloadkit fleet push --wait` prints while it follows a rollout: one
// line per host as it starts and ends, one per change of the rollout's
// state, and on a terminal a progress line kept at the bottom.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RolloutProgress } from '../../src/cli/fleet-wait.js';
import type { TurnRecord } from '../../src/fleet/records.js';
import type { RolloutView } from '../../src/fleet/rollout.js';
import type { RolloutStatus } from '../../src/fleet/status.js';

function status(state: RolloutStatus['state'], hosts: RolloutStatus['hosts'], reason?: string): RolloutStatus {
  const counts = { pending: 0, applying: 0, done: 0, failed: 0, lost: 0 };
  for (const s of Object.values(hosts)) counts[s] += 1;
  return {
    id: 'nginx-3',
    kind: 'push',
    from: 2,
    to: 3,
    state,
    ...(reason ? { reason } : {}),
    author: 'a',
    message: '',
    started_at: '',
    canary: 1,
    batch: 2,
    canaries: ['a'],
    hosts,
    counts,
  };
}

function view(turns: Record<string, Partial<TurnRecord>>): RolloutView {
  const t = new Map(Object.entries(turns).map(([h, r]) => [h, { value: { batch: 0, ...r } as TurnRecord, mod: '1' }]));
  return { fleet: 'web', target: 'nginx', rollout: null, current: null, driver: null, hosts: new Map(), turns: t };
}

describe('fleet: push --wait progress', () => {
  it('plain lines when not a terminal: each host once per state, the rollout when its state changes', () => {
    const out: string[] = [];
    const p = new RolloutProgress({ write: (t) => out.push(t), tty: false });
    p.update(status('running', { a: 'applying', b: 'pending', c: 'pending' }), view({ a: { canary: true } }));
    p.update(status('running', { a: 'applying', b: 'pending', c: 'pending' }), view({ a: { canary: true } }));
    p.update(status('running', { a: 'done', b: 'applying', c: 'applying' }), view({ a: { canary: true }, b: { batch: 1 }, c: { batch: 1 } }));
    p.update(
      status('halted', { a: 'done', b: 'done', c: 'failed' }, 'c: check: nginx: [emerg]'),
      view({ a: { canary: true }, b: { batch: 1 }, c: { batch: 1, step: 'check', reason: 'nginx: [emerg]' } }),
    );
    assert.equal(
      out.join(''),
      [
        'a: applying (canary)',
        'a: done (canary)',
        'b: applying (batch 1)',
        'c: applying (batch 1)',
        'b: done',
        'c: failed: check: nginx: [emerg]',
        'rollout nginx-3: halted (c: check: nginx: [emerg])',
        '',
      ].join('\n'),
    );
  });

  it('on a terminal: the same lines, and a progress line rewritten in place until the end', () => {
    const out: string[] = [];
    const p = new RolloutProgress({ write: (t) => out.push(t), tty: true });
    p.update(status('running', { a: 'applying', b: 'pending' }), view({ a: { canary: true } }));
    p.update(status('running', { a: 'done', b: 'applying' }), view({ a: { canary: true }, b: { batch: 1 } }));
    p.update(status('done', { a: 'done', b: 'done' }), view({ a: { canary: true }, b: { batch: 1 } }));
    assert.equal(out[0], 'a: applying (canary)\n[....................] 0/2 running, applying a');
    assert.equal(out[1], '\r\x1b[2Ka: done (canary)\nb: applying (batch 1)\n[##########..........] 1/2 running, applying b');
    assert.equal(out[2], '\r\x1b[2Kb: done\nrollout nginx-3: done\n', 'the progress line is cleared at the end');
  });
});
