// The GitHub workflows cannot run here, so what can drift is checked here:
// ci.yml runs the steps of .ci/run (the CI entry point) in the same order and
// installs the same system packages, on the Node majors the support matrix
// tests; release.yml publishes with provenance only after the full CI run,
// and its release notes come from CHANGELOG.md, which has a section for the
// current version.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFile(join(root, path), 'utf8');

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  if?: string;
}
interface Job {
  'runs-on': string;
  strategy?: { matrix?: Record<string, unknown> };
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

async function workflow(name: string): Promise<Workflow> {
  const doc = parse(await read(`.github/workflows/${name}`), { uniqueKeys: true }) as Workflow;
  assert.equal(typeof doc, 'object', `${name} is a YAML map`);
  return doc;
}

/** The only job of a workflow (these are kept to one). */
function onlyJob(wf: Workflow): Job {
  const jobs = Object.values(wf.jobs);
  assert.equal(jobs.length, 1);
  return jobs[0]!;
}

/** Shell commands a step list runs, one per `&&`-separated command, in order. */
function commands(steps: Step[]): string[] {
  return steps.flatMap((s) =>
    (s.run ?? '')
      .split(/\n|&&/)
      .map((c) => c.trim())
      .filter(Boolean),
  );
}

/** What .ci/run does: the system packages it may install, and its commands after the set-up, in order. */
async function ciRun(): Promise<{ packages: string[]; commands: string[]; stopsNginx: boolean; env: Record<string, string> }> {
  const text = await read('.ci/run');
  const packages = [...text.matchAll(/need\+=\(([\w.+-]+)\)/g)].map((m) => m[1]!);
  const env = Object.fromEntries([...text.matchAll(/^export (\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  // The script's steps: every top-level `node`/`npm` command line.
  const cmds = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(node|npm) /.test(l));
  return { packages, commands: cmds, stopsNginx: /nginx -s quit/.test(text), env };
}

describe('.github/workflows/ci.yml', () => {
  test("runs .ci/run's steps, in its order, with CI=true, on the Node majors of the support matrix", async () => {
    const wf = await workflow('ci.yml');
    const job = onlyJob(wf);
    assert.equal(job['runs-on'], 'ubuntu-latest');
    const ci = await ciRun();
    assert.ok(ci.commands.length >= 5, `found .ci/run's steps: ${ci.commands.join(' | ')}`);
    assert.deepEqual(
      ci.commands.slice(-5),
      ['npm ci', 'npm run typecheck', 'npm run lint', 'npm run build', 'npm run coverage'],
      '.ci/run ends with these steps',
    );

    // Every variable .ci/run exports is set for the job (CI=true turns skips of missing servers into failures).
    for (const [k, v] of Object.entries(ci.env)) assert.equal(job.env?.[k], v, `env ${k}`);

    // The same commands in the same order (lint included).
    const mine = commands(job.steps).filter((c) => /^(node|npm) /.test(c));
    assert.deepEqual(mine, ci.commands);

    // Node from the matrix, the same majors scripts/test-matrix.mjs runs by default.
    const setup = job.steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
    assert.equal(setup?.with?.['node-version'], '${{ matrix.node }}');
    const matrixScript = await read('scripts/test-matrix.mjs');
    const defaults = /const DEFAULT_VERSIONS = \[([^\]]*)\]/.exec(matrixScript)?.[1]?.match(/\d+/g)?.map(Number);
    assert.ok(defaults && defaults.length > 0, 'scripts/test-matrix.mjs names its default versions');
    assert.deepEqual(job.strategy?.matrix?.node, defaults);
    assert.ok(job.steps.findIndex((s) => s === setup) < job.steps.findIndex((s) => s.run?.includes('npm ci')), 'Node is set up before npm ci');
  });

  test('installs every system package .ci/run installs, before npm ci, and stops the system nginx as it does', async () => {
    const job = onlyJob(await workflow('ci.yml'));
    const ci = await ciRun();
    assert.ok(ci.packages.includes('nginx') && ci.packages.includes('chromium'), `.ci/run's packages as this test reads them: ${ci.packages.join(' ')}`);
    const aptIndex = job.steps.findIndex((s) => /apt-get install/.test(s.run ?? ''));
    assert.ok(aptIndex >= 0, 'an apt-get install step');
    const apt = job.steps[aptIndex]!.run!;
    const installed = /apt-get install ([^&\n]*)/
      .exec(apt)![1]!
      .split(/\s+/)
      .filter((w) => w !== '' && !w.startsWith('-'));
    assert.deepEqual(installed.sort(), ci.packages.sort());
    assert.match(apt, /apt-get update/);
    assert.ok(aptIndex < job.steps.findIndex((s) => s.run === 'npm ci'));
    assert.ok(ci.stopsNginx);
    assert.ok(
      job.steps.some((s) => /nginx -s quit/.test(s.run ?? '')),
      'stops the nginx the package may start',
    );
  });
});

describe('.github/workflows/release.yml', () => {
  test('on a v* tag: checks the tag, runs .ci/run, and only then publishes with provenance and creates the release', async () => {
    const wf = await workflow('release.yml');
    assert.deepEqual(wf.on, { push: { tags: ['v*'] } });
    assert.equal(wf.permissions?.['id-token'], 'write', 'provenance needs an OIDC token');
    assert.equal(wf.permissions?.contents, 'write', 'the GitHub release');
    const steps = onlyJob(wf).steps;
    const index = (re: RegExp, what: string) => {
      const matching = steps.flatMap((s, i) => (re.test(s.run ?? '') ? [i] : []));
      assert.equal(matching.length, 1, `exactly one step ${what}`);
      return matching[0]!;
    };
    const tagCheck = index(
      /^test "v\$\(node -p 'require\("\.\/package\.json"\)\.version'\)" = "\$GITHUB_REF_NAME"$/,
      'that checks the tag is the package version',
    );
    const notes = index(/scripts\/changelog-section\.mjs/, 'that extracts the notes');
    const tests = index(/^bash \.ci\/run$/, 'that runs .ci/run');
    const publish = index(/npm publish/, 'that publishes');
    const release = index(/gh release create/, 'that creates the GitHub release');
    assert.ok(tagCheck < tests && notes < tests, 'the tag and the notes are checked before the long run');
    assert.ok(tests < publish, 'publish only after the tests');
    assert.ok(publish < release, 'the GitHub release only once the package is on npm');
    assert.match(steps[publish]!.run!, /^npm publish --provenance\b/);
    assert.equal(steps[publish]!.env?.NODE_AUTH_TOKEN, '${{ secrets.NPM_TOKEN }}');
    assert.match(steps[release]!.run!, /--notes-file "\$RUNNER_TEMP\/release-notes\.md"/);
    assert.match(steps[notes]!.run!, /> "\$RUNNER_TEMP\/release-notes\.md"$/);
    const setup = steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
    assert.equal(setup?.with?.['registry-url'], 'https://registry.npmjs.org', "npm publish authenticates through setup-node's .npmrc");
  });

  test('CHANGELOG.md has release notes for the version in package.json; a missing version is refused by name', async () => {
    const pkg = JSON.parse(await read('package.json')) as { version: string; repository?: { url?: string } };
    const script = join(root, 'scripts/changelog-section.mjs');
    const { stdout } = await run(process.execPath, [script, pkg.version], { cwd: root });
    assert.match(stdout, /^### Added$/m);
    assert.doesNotMatch(stdout, /^## /m, 'only that section');
    assert.ok(!stdout.includes('[Unreleased]'));

    const missing = await run(process.execPath, [script, '99.0.0'], { cwd: root }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? '' }),
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /has no "## \[99\.0\.0\]" section, or it is empty: add the release notes before tagging v99\.0\.0/);

    // An empty section is refused too, and the link references at the end are not part of the last section.
    const dir = await mkdtemp(join(tmpdir(), 'rk-changelog-'));
    try {
      const file = join(dir, 'CHANGELOG.md');
      await writeFile(
        file,
        '# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - 2030-01-02\n\n## [1.0.0] - 2030-01-01\n\n- First.\n\n[1.0.0]: https://example.invalid/v1.0.0\n',
      );
      const empty = await run(process.execPath, [script, '1.1.0', file]).catch((e: { code?: number }) => ({ code: e.code, stdout: '' }));
      assert.equal((empty as { code?: number }).code, 1);
      assert.equal((await run(process.execPath, [script, '1.0.0', file])).stdout, '- First.\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    // npm provenance checks that the package names the repository the workflow runs in.
    assert.match(pkg.repository?.url ?? '', /^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/);
  });
});
