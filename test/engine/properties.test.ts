// Model-based properties of the engine over random sequences of requests,
// hook outcomes and source contents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { z } from 'zod';
import { Unit } from '../../src/engine/unit.js';
import { COMMITTED_STATUSES, type ReloadResult, type Trigger } from '../../src/shared/types.js';
import type { ConfigSource, LoadedConfig } from '../../src/shared/types.js';

const schema = z.object({ v: z.number().int().nonnegative() });

type Outcome = 'ok' | 'fail' | 'throw' | 'skip' | 'hang';

type Step = { kind: 'write'; value: unknown } | { kind: 'request'; trigger: Trigger } | { kind: 'outcome'; outcome: Outcome } | { kind: 'wait'; turns: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    value: fc.oneof(
      fc.record({ v: fc.nat(5) }),
      fc.record({ v: fc.constant(-1) }), // fails validation
      fc.constant('not an object'),
    ),
  }),
  {
    arbitrary: fc.record({ kind: fc.constant('request' as const), trigger: fc.constantFrom<Trigger>('api', 'watch', 'signal', 'socket', 'rescan') }),
    weight: 2,
  },
  fc.record({ kind: fc.constant('outcome' as const), outcome: fc.constantFrom<Outcome>('ok', 'fail', 'throw', 'skip', 'hang') }),
  // Waits let passes start and end between the other steps (a pass takes a few turns).
  { arbitrary: fc.record({ kind: fc.constant('wait' as const), turns: fc.integer({ min: 0, max: 6 }) }), weight: 2 },
);

const turn = () => new Promise<void>((res) => setImmediate(res));

/** The timeout of the hook that hangs: small, so a run with many hung passes stays short. */
const HANG_TIMEOUT_MS = 5;

// Assertions made inside the source, the hooks or an observer would be caught by the
// engine (a throwing load is a load_failed, a throwing observer is logged and ignored),
// so they record problems here and the property asserts them from the outside.
test('property: generation monotonic, passes serial, answers fresh, current() always valid, hung hooks aborted', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 40, size: 'max' }), async (steps) => {
      let clock = 0; // logical time: requests and pass starts are ordered on it
      let active = 0;
      const problems: string[] = [];
      let lastPassStart = -1;
      let sourceValue: unknown = { v: 0 };
      let outcome: Outcome = 'ok';
      let hangsStarted = 0;
      let hangsReleased = 0;
      const passStartOf = new WeakMap<ReloadResult, number>();

      const source: ConfigSource = {
        description: 'model',
        async load(): Promise<LoadedConfig> {
          active += 1;
          if (active !== 1) problems.push(`two passes overlap (${active} loading or running at clock ${clock})`);
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
        historySize: 1000, // every pass of a run stays in history()
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
          {
            // Never settles on its own: only its signal (aborted at its timeout) ends it.
            name: 'hang',
            applyTimeoutMs: HANG_TIMEOUT_MS,
            apply: (ctx) => {
              if (outcome !== 'hang') return 'skipped';
              hangsStarted += 1;
              return new Promise<undefined>((_, reject) =>
                ctx.signal.addEventListener('abort', () => {
                  hangsReleased += 1;
                  reject(new Error('released by abort'));
                }),
              );
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
          const expected = COMMITTED_STATUSES.has(r.status) ? generation + 1 : generation;
          if (r.generation !== expected) problems.push(`${r.status} pass has generation ${r.generation}, expected ${expected}`);
          generation = r.generation;
          if (!schema.safeParse(unit.current().config).success) problems.push(`invalid config in effect: ${JSON.stringify(unit.current().config)}`);
          const hang = r.outcomes.find((o) => o.name === 'hang');
          if (hang?.status === 'failed' && !(hang.error ?? '').includes(`timed out after ${HANG_TIMEOUT_MS} ms`))
            problems.push(`hang failed with ${hang.error}`);
          if (hang !== undefined && hang.status === 'applied') problems.push('the hung hook applied');
        },
      });
      await unit.start();
      active = 0; // start() loads once without a pass
      const answers: Promise<void>[] = [];
      try {
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
        assert.deepEqual(problems, []);
        assert.equal(active, 0, 'every pass that loaded ended with a result');
        assert.equal(unit.generation, generation);
        assert.equal(hangsReleased, hangsStarted, 'every hung apply was released by its aborted signal');
        const hungPasses = unit.history().filter((r) => r.outcomes.some((o) => o.name === 'hang' && o.status === 'failed')).length;
        assert.equal(hungPasses, hangsStarted, 'each hung apply is a failed outcome of its pass');
      } finally {
        await unit.close();
      }
    }),
    { numRuns: 400 },
  );
});
