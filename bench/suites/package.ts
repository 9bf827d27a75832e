// What a user pays for the package before using it:
// - install size: the packed tarball (`npm pack` of the built dist/) installed
//   into an empty project with npm, as `npm i reloadkit` would; every file
//   under node_modules/ counted (goal <= 3 MB);
// - import time: a process that only does `import 'reloadkit'` (and one that
//   does `require('reloadkit')`), spawn to exit, against `node -e 0` in the
//   same rounds, interleaved so both see the same machine load, like
//   hyperfine's paired runs (goal <= 1.5x).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installFootprint } from '../../test/helpers/install-size.js';
import { ensureCliBundle } from '../daemon-process.js';
import { median, percentile, round, timeProcess, type BenchContext, type BenchRow, type BenchSuite } from '../harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const MB = 1024 * 1024;

function npmRun(args: string[], cwd: string): string {
  return execFileSync(npm, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Packs the repository as it is built and installs the tarball into a fresh project; returns the project. */
function installPacked(ctx: BenchContext): { project: string; tarballBytes: number; unpackedBytes: number } {
  ensureCliBundle((m) => ctx.log(m));
  const work = ctx.tmp('package');
  const info = JSON.parse(npmRun(['pack', '--json', '--pack-destination', work], root)) as { filename: string; size: number; unpackedSize: number }[];
  const tarball = join(work, info[0]!.filename);
  const project = join(work, 'app');
  execFileSync('mkdir', [project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const install = ['install', tarball, '--no-audit', '--no-fund', '--ignore-scripts'];
  try {
    npmRun([...install, '--offline'], project);
  } catch {
    npmRun([...install, '--prefer-offline'], project);
  }
  return { project, tarballBytes: info[0]!.size, unpackedBytes: info[0]!.unpackedSize };
}

export const packageSuite: BenchSuite = {
  name: 'package',
  description: 'npm i reloadkit: install size and import time against node -e 0',
  async run(ctx) {
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    const { project, tarballBytes, unpackedBytes } = installPacked(ctx);
    const installed = installFootprint(join(project, 'node_modules'));
    rows.push({
      metric: `install size: node_modules after npm i of the packed tarball (${installed.packages.length} packages: ${installed.packages.join(', ')})`,
      value: round(installed.bytes / MB, 2),
      unit: 'MB',
      goal: '<= 3 MB',
      pass: installed.bytes <= 3 * MB,
    });
    rows.push({ metric: '  disk space it takes (allocated blocks, as du counts)', value: round(installed.diskBytes / MB, 2), unit: 'MB' });
    rows.push({ metric: '  of which reloadkit itself (unpacked)', value: round(unpackedBytes / MB, 2), unit: 'MB' });
    rows.push({ metric: '  tarball (npm pack, gzip)', value: round(tarballBytes / 1024, 1), unit: 'KiB' });
    const version = (JSON.parse(readFileSync(join(project, 'node_modules/reloadkit/package.json'), 'utf8')) as { version: string }).version;
    notes.push(`install: reloadkit ${version} packed from this checkout, installed with npm ${npmRun(['--version'], root).trim()} from the npm cache`);

    const runs = ctx.quick ? 10 : 40;
    const node = process.execPath;
    const cases = {
      base: ['-e', '0'],
      esm: ['--input-type=module', '-e', "import 'reloadkit'"],
      cjs: ['-e', "require('reloadkit')"],
    };
    // Warm the file cache first; then rounds of the three, interleaved.
    for (const args of Object.values(cases)) timeProcess(node, args, project);
    const samples: Record<keyof typeof cases, number[]> = { base: [], esm: [], cjs: [] };
    for (let i = 0; i < runs; i += 1) {
      for (const [name, args] of Object.entries(cases) as [keyof typeof cases, string[]][]) samples[name].push(timeProcess(node, args, project));
    }
    const base = median(samples.base);
    for (const [name, label] of [
      ['esm', "`import 'reloadkit'` (ES module)"],
      ['cjs', "`require('reloadkit')` (CommonJS)"],
    ] as const) {
      const m = median(samples[name]);
      rows.push({
        metric: `${label}, spawn to exit, median`,
        value: round(m, 1),
        unit: 'ms',
        baseline: round(base, 1),
        baselineName: 'node -e 0',
        ratio: round(m / base, 2),
        goal: '<= 1.5x',
        pass: m / base <= 1.5,
      });
      rows.push({
        metric: `  ${label}, p90`,
        value: round(percentile(samples[name], 90), 1),
        unit: 'ms',
        baseline: round(percentile(samples.base, 90), 1),
        baselineName: 'node -e 0 p90',
      });
    }
    notes.push(`import time: ${runs} rounds of node -e 0, import and require, interleaved, in the installed project, after one warm-up run each`);
    return { rows, notes };
  },
};
