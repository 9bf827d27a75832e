// Collects test files explicitly: on Node 20, `node --test <dir>` and `tsx --test`
// can silently run zero .ts files and still exit 0. This runner lists every
// `*.test.ts` under test/, runs them with node:test's run(), prints the spec
// report and node's summary, and fails when a test failed or none ran.
//
// Usage: npm test [-- <substring> ...]   (only files whose path contains a substring)
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';
import { staleBuildReason } from './helpers/cli-entry.js';

const root = fileURLToPath(new URL('.', import.meta.url));

function collect(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'fixtures' || entry.name === 'types') continue;
      out.push(...collect(full));
    } else if (entry.name.endsWith('.test.ts')) {
      out.push(full);
    }
  }
  return out;
}

const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const files = collect(root)
  .filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)))
  .sort()
  .map((f) => resolve(f));

if (files.length === 0) {
  console.error(`test/run.ts: no test files matched ${JSON.stringify(filters)}`);
  process.exit(1);
}

// The CLI tests run the built bundle, as users do: build it first when it is
// missing or older than the sources (CI has just built it, so nothing runs).
if (process.env.RELOADKIT_TEST_CLI !== 'source') {
  const stale = staleBuildReason();
  if (stale) {
    console.log(`test/run.ts: ${stale}; running npm run build first`);
    execFileSync(process.execPath, [join(root, '..', 'scripts', 'build.mjs')], { stdio: 'inherit' });
  }
}

const concurrency = Number(process.env.RELOADKIT_TEST_CONCURRENCY ?? 4);
let passed = 0;
let failed = 0;

// Node >= 24 starts each test file with the value of every option, defaults
// included; `--report-signal=SIGUSR2` among them implies --report-on-signal,
// so a test that sends itself SIGUSR2 (a reload signal users pick) would also
// write a diagnostic report into the working directory. Node 20 ignores
// `execArgv` here (nor is it in @types/node 20) and does not pass those options.
const options: NonNullable<Parameters<typeof run>[0]> & { execArgv: string[] } = {
  files,
  concurrency,
  timeout: 10 * 60_000,
  execArgv: ['--no-report-on-signal'],
};
const stream = run(options);
stream.on('test:pass', (e: { nesting: number; details?: { type?: string } }) => {
  if (e.details?.type !== 'suite') passed += 1;
});
stream.on('test:fail', () => {
  failed += 1;
  process.exitCode = 1;
});
stream.compose(new spec()).pipe(process.stdout);
process.on('exit', () => {
  // Printed after the reporter's own summary (ℹ tests/pass/fail) so a CI log
  // shows both and a run with zero tests cannot look green.
  process.stdout.write(`\nreloadkit test runner: ${files.length} files, ${passed} passed, ${failed} failed\n`);
  if (passed === 0) {
    console.error('test/run.ts: no test passed; treating as a failure');
    process.exitCode = 1;
  }
});
