// `reloadkit run` as an operator runs it: the built CLI bundle (dist/cli.js)
// in a child process, its JSON log lines collected, stopped with SIGTERM
// (and its whole process group killed if it does not exit in time).
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, type TrackedChild } from './children.js';

const root = fileURLToPath(new URL('../', import.meta.url));
export const cliBundle = join(root, 'dist', 'cli.js');

/** The newest modification time of a file under `dir`, in ms. */
function newestUnder(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

/** Builds dist/ (npm run build) when dist/cli.js is missing or older than a file in src/: the bench measures the source as it is. */
export function ensureCliBundle(log: (msg: string) => void): void {
  let built = 0;
  try {
    built = statSync(cliBundle).mtimeMs;
  } catch {
    // missing
  }
  if (built > newestUnder(join(root, 'src'))) return;
  log(built === 0 ? 'dist/cli.js missing: building it (npm run build)' : 'dist/cli.js older than src/: rebuilding it (npm run build)');
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit', cwd: root });
}

/** Calls `onLine` for every complete line of a stream. */
export function eachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
}

export interface Daemon extends TrackedChild {
  /** Its JSON log lines so far (stdout). */
  lines: Array<Record<string, unknown>>;
  /** Resolves with the first log line (from `from` on) that `match` accepts. */
  waitForLine(match: (line: Record<string, unknown>) => boolean, what: string, ms?: number, from?: number): Promise<Record<string, unknown>>;
}

export function spawnDaemon(config: string): Daemon {
  const child = spawnTracked(process.execPath, [cliBundle, 'run', '-c', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Array<Record<string, unknown>> = [];
  eachLine(child.proc.stdout!, (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not JSON
    }
  });
  return {
    ...child,
    lines,
    async waitForLine(match, what, ms = 30_000, from = 0) {
      const end = Date.now() + ms;
      for (;;) {
        const hit = lines.slice(from).find(match);
        if (hit) return hit;
        if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`bench: the daemon exited while waiting for ${what}`);
        if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    },
  };
}
