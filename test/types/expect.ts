// Compile-time assertions for the type tests in this directory. These files
// are type-checked by `npm run typecheck` and never run.

/** True when A and B are the same type (not merely assignable). */
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/**
 * `expectType<Expected>()(value)` compiles only when the value's type is
 * exactly `Expected`; otherwise it demands a second argument of type never.
 */
export function expectType<Expected>() {
  return <Actual>(_value: Actual, ..._mismatch: Equal<Actual, Expected> extends true ? [] : [never]): void => {};
}
