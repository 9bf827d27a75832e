// How the tests run the `reloadkit` command: the built bundle (`node
// dist/cli.js`), the program users run. `npm test` builds first when dist/
// is missing or older than the sources (test/run.ts), so a bundling fault
// (a dependency that works through tsx but not bundled) fails the tests.
// RELOADKIT_TEST_CLI=source runs the sources through tsx instead, for a
// quick edit-and-test loop; it says so loudly and is refused under CI.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILT_CLI = join(ROOT, 'dist', 'cli.js');
const SOURCE_CLI = join(ROOT, 'src', 'cli', 'main.ts');

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, e)));
  return newest;
}

/** Why dist/cli.js cannot stand for the current sources, or null when it can. */
export function staleBuildReason(): string | null {
  if (!existsSync(BUILT_CLI)) return 'dist/cli.js is missing';
  const built = statSync(BUILT_CLI).mtimeMs;
  for (const input of ['src', 'scripts', 'package.json']) {
    if (newestMtime(join(ROOT, input)) > built) return `dist/cli.js is older than ${input}`;
  }
  return null;
}

let entry: readonly string[] | null = null;

/** Node arguments that start the CLI: `[dist/cli.js]`, or tsx + the source when asked for. */
export function cliEntry(): readonly string[] {
  if (entry) return entry;
  if (process.env.RELOADKIT_TEST_CLI === 'source') {
    if (process.env.CI === 'true') throw new Error('RELOADKIT_TEST_CLI=source is for development: CI tests the built CLI');
    process.stderr.write('\n!!! RELOADKIT_TEST_CLI=source: running the CLI from src/ through tsx, not the built dist/cli.js\n\n');
    return (entry = ['--import', 'tsx', SOURCE_CLI]);
  }
  const stale = staleBuildReason();
  if (stale) throw new Error(`${stale}: run \`npm run build\` (npm test does it before the tests)`);
  return (entry = [BUILT_CLI]);
}
