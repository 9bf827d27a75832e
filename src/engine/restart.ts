// Restart-required detection: concrete paths matching declared patterns whose
// value differs between the boot config and a candidate.
import { child, childSegments, formatPath, parsePattern, type PathSegment, type PatternSegment } from '../shared/paths.js';
import { deepEqual } from './snapshot.js';

export type RestartPolicy = 'warn' | 'reject';

export class RestartMatcher {
  private readonly patterns: PatternSegment[][];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns.map(parsePattern);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Concrete dotted paths (sorted, unique) whose values differ. */
  diff(boot: unknown, next: unknown): string[] {
    const found = new Set<string>();
    for (const pattern of this.patterns) {
      const walk = (i: number, a: unknown, b: unknown, path: PathSegment[]): void => {
        if (i === pattern.length) {
          if (!deepEqual(a, b)) found.add(formatPath(path));
          return;
        }
        const seg = pattern[i]!;
        if ('key' in seg || 'index' in seg) {
          const s = 'key' in seg ? seg.key : seg.index;
          walk(i + 1, child(a, s), child(b, s), [...path, s]);
          return;
        }
        const kids = new Set<PathSegment>();
        for (const s of [...childSegments(a), ...childSegments(b)]) {
          if (seg.any === 'index' && typeof s !== 'number') continue;
          kids.add(s);
        }
        for (const s of kids) walk(i + 1, child(a, s), child(b, s), [...path, s]);
      };
      walk(0, boot, next, []);
    }
    return [...found].sort();
  }
}
