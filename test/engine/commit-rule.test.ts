// The commit rule, as docs/library.md states it in one sentence: the new
// config is committed unless a hook failed and either every hook failed or
// the policy is rollback. Checked over random hook sets with fast-check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Unit } from '../../src/engine/unit.js';
import type { ApplyReturn, Hook } from '../../src/shared/types.js';
import { MemorySource } from '../helpers/memory-source.js';

type Behaviour = 'applied' | 'skipped' | 'failed' | 'throws';

function hook(name: string, b: Behaviour): Hook<unknown> {
  return {
    name,
    apply: (): ApplyReturn => {
      if (b === 'throws') throw new Error(`${name} broke`);
      return b;
    },
  };
}

test('commit rule: committed iff no hook failed, or keep-partial and not every hook failed', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.constantFrom<Behaviour>('applied', 'skipped', 'failed', 'throws'), { minLength: 0, maxLength: 6 }),
      fc.constantFrom<'keep-partial' | 'rollback'>('keep-partial', 'rollback'),
      async (behaviours, policy) => {
        const source = new MemorySource({ v: 1, unrelated: 'a' });
        const unit = new Unit<unknown>({ name: 'u', source, hooks: behaviours.map((b, i) => hook(`h${i}`, b)), onApplyFailure: policy });
        try {
          await unit.start();
          // The edit also changes a field no hook looks at: whether it takes effect must not depend on the hooks' luck.
          source.set({ v: 2, unrelated: 'b' });
          const r = await unit.reload();
          const failed = behaviours.filter((b) => b === 'failed' || b === 'throws').length;
          const committed = failed === 0 || (policy === 'keep-partial' && failed < behaviours.length);
          assert.equal(r.generation, committed ? 1 : 0, `${behaviours.join(',')} ${policy}: ${r.status}`);
          assert.deepEqual(unit.current().config, committed ? { v: 2, unrelated: 'b' } : { v: 1, unrelated: 'a' });
          const expected =
            failed === 0 ? 'full_success' : failed === behaviours.length ? 'apply_failed' : policy === 'rollback' ? 'rolled_back' : 'partial_applied';
          assert.equal(r.status, expected);
        } finally {
          await unit.close();
        }
      },
    ),
    { numRuns: 300 },
  );
});
