// The small interfaces through which other layers plug into a unit without
// the engine knowing them: observers (metrics, state files, logs), and
// extensions that take part in its lifecycle (last known good: a fallback at
// start, a write after each commit, a flush at close).
import type { Logger, ReloadResult, SourceFile, Trigger } from '../shared/types.js';

/** A committed config and what it was made from. */
export interface Snapshot<T> {
  readonly config: T;
  readonly hash: string;
  readonly generation: number;
  readonly files: readonly SourceFile[];
}

/** A config to start from when the source cannot be loaded at start. */
export interface FallbackConfig {
  value: unknown;
  /** Where it came from, for the warning and readiness, e.g. "last known good config from <saved_at>". */
  description: string;
}

/** Observers see every request and result; metrics, persistence and logs hang here. */
export interface UnitObserver<T = unknown> {
  request?(unit: string, trigger: Trigger): void;
  result?(result: ReloadResult): void;
  /** After start() and after every committed pass. */
  commit?(snapshot: Snapshot<T>): void;
  /** A source file's signature was missing or did not verify (counted, logged as a security event). */
  signatureFailure?(unit: string, file: string, reason: string): void;
  /** Writing the last known good config failed (the pass itself is unaffected). */
  persistFailure?(unit: string, error: string): void;
  /** A hook's after-commit work (onChange) failed; the pass stays committed. */
  afterCommitFailure?(unit: string, hook: string, error: string): void;
}

/** What a unit gives an extension when it is created. @public */
export interface ExtensionContext {
  readonly unit: string;
  /** The unit's logger: lines pass through its redaction. */
  readonly logger: Logger;
  /** Tells the unit's observers something (a failed write, say). */
  notify(fn: (observer: UnitObserver) => void): void;
}

/** Takes part in a unit's lifecycle; every method is optional. */
export interface UnitExtension<T = unknown> {
  /** Called once, when the unit is created. */
  attach?(ctx: ExtensionContext): void;
  /** Asked for a config to start from when the source cannot be loaded at start. */
  fallback?(loadError: string): Promise<FallbackConfig | null>;
  /** After start() and every committed pass; `fromFallback` when start() used fallback(). */
  committed?(snapshot: Snapshot<T>, info: { fromFallback: boolean }): void;
  /** Awaited by close() after the last pass ended. */
  close?(): Promise<void>;
}
