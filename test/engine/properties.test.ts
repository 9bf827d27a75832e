// Model-based properties of the engine over random sequences of requests,
// hook outcomes and source contents (issue 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { z } from 'zod';
import { Unit } from '../../src/engine/unit.js';
import { COMMITTED_STATUSES, type ReloadResult, type Trigger } from '../../src/types.js';
import type { ConfigSource, LoadedConfig } from '../../src/types.js';

const schema = z.object({ v: z.number().int().nonnegative() });

type Step =
  | { kind: 'write'; value: unknown }
  | { kind: 'request'; trigger: Trigger }
  | { kind: 'outcome'; outcome: 'ok' | 'fail' | 'throw' | 'skip' }
  | { kind: 'wait'; turns: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    value: fc.oneof(
      fc.record({ v: fc.nat(5) }),
      fc.record({ v: fc.constant(-1) }), // fails validation
      fc.constant('not an object'),
    ),
  }),
  fc.record({ kind: fc.constant('request' as const), trigger: fc.constantFrom<Trigger>('api', 'watch', 'signal', 'socket', 'rescan') }),
  fc.record({ kind: fc.constant('outcome' as const), outcome: fc.constantFrom('ok', 'fail', 'throw', 'skip') as fc.Arbitrary<'ok' | 'fail' | 'throw' | 'skip'> }),
  fc.record({ kind: fc.constant('wait' as const), turns: fc.integer({ min: 0, max: 4 }) }),
);

const turn = () => new Promise<void>((res) => setImmediate(res));

test('property: generation monotonic, passes serial, answers fresh, current() always valid', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 40 }), async (steps) => {
      let clock = 0; // logical time: requests and pass starts are ordered on it
      let active = 0;
      let lastPassStart = -1;
      let sourceValue: unknown = { v: 0 };
      let outcome: 'ok' | 'fail' | 'throw' | 'skip' = 'ok';
      const passStartOf = new WeakMap<ReloadResult, number>();

      const source: ConfigSource = {
        description: 'model',
        async load(): Promise<LoadedConfig> {
          active += 1;
          assert.equal(active, 1, 'two passes overlap');
          lastPassStart = ++clock;
          const value = structuredClone(sourceValue);
          await turn();
          return { value, files: [] };
        },
      };
      const unit = new Unit<{ v: number }>({
        name: 'm',
        source,
        schema,
        hooks: [
          {
            name: 'h',
            apply: async () => {
              await turn();
              if (outcome === 'fail') return 'failed';
              if (outcome === 'throw') throw new Error('boom');
              if (outcome === 'skip') return 'skipped';
              return undefined;
            },
          },
          { name: 'always', apply: () => undefined },
        ],
      });
      let generation = 0;
      unit.observe({
        result(r) {
          active -= 1;
          passStartOf.set(r, lastPassStart);
          if (COMMITTED_STATUSES.has(r.status)) assert.equal(r.generation, generation + 1);
          else assert.equal(r.generation, generation);
          generation = r.generation;
          assert.equal(schema.safeParse(unit.current().config).success, true);
        },
      });
      await unit.start();
      active = 0; // start() loads once without a pass
      const answers: Promise<void>[] = [];
      for (const step of steps) {
        if (step.kind === 'write') sourceValue = step.value;
        else if (step.kind === 'outcome') outcome = step.outcome;
        else if (step.kind === 'wait') for (let i = 0; i < step.turns; i += 1) await turn();
        else {
          const at = ++clock;
          answers.push(
            unit.reload(step.trigger).then((r) => {
              const started = passStartOf.get(r);
              assert.ok(started !== undefined && started > at, `request at ${at} answered by a pass started at ${started}`);
            }),
          );
        }
        assert.equal(schema.safeParse(unit.current().config).success, true);
      }
      await Promise.all(answers);
      assert.equal(unit.generation, generation);
      await unit.close();
    }),
    { numRuns: 150 },
  );
});
