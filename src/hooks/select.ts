// Where a built-in hook finds its value: a dotted path into the config
// (`log.level`, `backends[0].url`) or a selector function.
//
// Typing. A hook is created before (and apart from) the createReloader call,
// so TypeScript cannot hand the schema's type to a generic hook factory (a
// nested generic call is inferred without its outer context). Instead a
// path hook carries the *shape* its path needs, e.g. `logLevelHook(l,
// 'log.level')` is a `Hook<{ readonly log: { readonly level: string } }>`.
// Hook methods compare their parameters both ways, so that hook fits the
// reloader's `Hook<Config>` exactly when the config has a string at
// `log.level`; a typo or a wrong value type is a compile error at the call.
import { OptionsError } from '../shared/errors.js';
import { child, parsePattern, type PathSegment } from '../shared/paths.js';

type SplitDots<P extends string> = P extends `${infer Head}.${infer Rest}` ? [Head, ...SplitDots<Rest>] : [P];
type SplitIndexes<S extends string> = S extends `${infer Key}[${string}]${infer Rest}`
  ? [...(Key extends '' ? [] : [Key]), number, ...SplitIndexes<Rest>]
  : S extends ''
    ? []
    : [S];
type Segments<Parts extends string[]> = Parts extends [infer H extends string, ...infer R extends string[]] ? [...SplitIndexes<H>, ...Segments<R>] : [];
type Shape<S extends unknown[], V> = S extends [infer H, ...infer R]
  ? H extends number
    ? readonly Shape<R, V>[]
    : R extends []
      ? undefined extends V
        ? { readonly [K in H & string]?: V }
        : { readonly [K in H & string]: V }
      : { readonly [K in H & string]: Shape<R, V> }
  : V;

/**
 * The least config that has a `V` at dotted path `P`:
 * `ConfigWith<'backends[0].url', string>` is
 * `{ readonly backends: readonly { readonly url: string }[] }`.
 * A non-literal path or a quoted key (`labels["a.b"]`) gives `unknown` (not checked).
 */
export type ConfigWith<P extends string, V> = string extends P ? unknown : P extends `${string}"${string}` ? unknown : Shape<Segments<SplitDots<P>>, V>;

/** Values a path stops at rather than walks into. */
type Leaf =
  | string
  | number
  | boolean
  | bigint
  | symbol
  | null
  | undefined
  | Date
  | URL
  | RegExp
  | ReadonlyMap<unknown, unknown>
  | ReadonlySet<unknown>
  | ((...args: never[]) => unknown);
/** Depth countdown, so a recursive config type cannot make the path union endless. */
type Down = [never, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
type SubPath<C, D extends number> = C extends Leaf ? never : C extends readonly unknown[] ? ConfigPath<C, D> : `.${ConfigPath<C, D>}`;

/**
 * Every dotted path into a config type, for editors to complete and the
 * compiler to check: `'server' | 'server.port' | 'backends' | 'backends[${number}]' | 'backends[${number}].url' | …`
 * (up to 10 levels deep).
 */
export type ConfigPath<C, D extends number = 10> = [D] extends [never]
  ? never
  : C extends Leaf
    ? never
    : C extends readonly (infer E)[]
      ? `[${number}]` | `[${number}]${SubPath<E, Down[D]>}`
      : { [K in keyof C & string]-?: K | `${K}${SubPath<NonNullable<C[K]>, Down[D]>}` }[keyof C & string];

type Step<C, H> = C extends undefined | null
  ? undefined
  : H extends number
    ? C extends readonly (infer E)[]
      ? E | undefined
      : undefined
    : H extends keyof C
      ? C[H]
      : undefined;
type Walk<C, S extends unknown[]> = S extends [infer H, ...infer R] ? Walk<Step<C, H>, R> : C;

/**
 * The type of the value at dotted path `P` of config type `C`:
 * `PathValue<Config, 'upstream.url'>` is `string`. An index may be past the
 * end (`backends[3]` is `Backend | undefined`), and so may an optional key.
 */
export type PathValue<C, P extends string> = Walk<C, Segments<SplitDots<P>>>;

/** A function that picks a hook's value out of the config. */
export type Selector<C, V> = (config: C) => V;

/** A compiled path or selector: finds the value, and names it in messages. */
export interface Selection {
  /** `log.level`, or `selector` for functions. */
  readonly description: string;
  /** The value, or `undefined` when the path does not exist. */
  pick(config: unknown): unknown;
}

/** Compiles a concrete dotted path (no wildcards) or wraps a selector. Throws on a malformed path. */
export function selection(what: string, pathOrSelector: string | ((config: never) => unknown)): Selection {
  if (typeof pathOrSelector === 'function') {
    const fn = pathOrSelector as (config: unknown) => unknown;
    return { description: 'selector', pick: (config) => fn(config) };
  }
  if (typeof pathOrSelector !== 'string') {
    throw new OptionsError(`${what}: expected a dotted path or a selector function, got ${typeof pathOrSelector}`);
  }
  let segments: PathSegment[];
  try {
    segments = parsePattern(pathOrSelector).map((seg) => {
      if ('key' in seg) return seg.key;
      if ('index' in seg) return seg.index;
      throw new Error('wildcards (*) select many values; a hook needs exactly one');
    });
  } catch (err) {
    throw new OptionsError(`${what}: bad path ${JSON.stringify(pathOrSelector)}: ${(err as Error).message}`, { cause: err });
  }
  return {
    description: pathOrSelector,
    pick: (config) => segments.reduce<unknown>((value, seg) => child(value, seg), config),
  };
}
