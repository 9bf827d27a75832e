// Durations as people write them in config files and options: `100ms`,
// `1.5s`, `2m`, `1h` (or `0`).

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `100ms`, `1.5s`, `2m`, `1h`, or `0`, in milliseconds; anything else is null. */
export function parseDuration(text: string | number): number | null {
  if (text === 0 || text === '0') return 0;
  if (typeof text !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(text);
  if (!m) return null;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}
