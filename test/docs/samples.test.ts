// Every ```ts block of the library docs must be real API: each block is
// written out as its own module (with `reloadkit` mapped to src/index.ts)
// and the whole set is type-checked with the project's tsc, strict.
//
// Conventions in the docs:
//   <!-- ts-prelude ... -->   declarations prepended to every block of that page
//                             (invisible when rendered), e.g. `declare const logger: Logger;`
//   <!-- no-check -->         on the line before a block: not checked (pseudo-code)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const DOCS = ['README.md', 'docs/library.md', 'docs/protocol.md', 'docs/migration.md', 'docs/fleet.md'];

interface Sample {
  doc: string;
  /** 1-based line in the doc of the block's first code line. */
  line: number;
  preludeLines: number;
  code: string;
}

function extract(doc: string, text: string): Sample[] {
  const prelude = /<!--\s*ts-prelude\n([\s\S]*?)-->/.exec(text)?.[1] ?? '';
  const preludeLines = prelude === '' ? 0 : prelude.split('\n').length - 1;
  const lines = text.split('\n');
  const samples: Sample[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const open = /^```(ts|typescript)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const skip = i > 0 && lines[i - 1]!.trim() === '<!-- no-check -->';
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end]!.startsWith('```')) end += 1;
    if (!skip) samples.push({ doc, line: start + 1, preludeLines, code: `${prelude}${lines.slice(start, end).join('\n')}\nexport {};\n` });
    i = end;
  }
  return samples;
}

// Inside the repo (.tmp/ is git-ignored) so zod, pino… resolve from node_modules.
await mkdir(join(root, '.tmp'), { recursive: true });
const dir = await mkdtemp(join(root, '.tmp', 'doc-samples-'));
after(() => rm(dir, { recursive: true, force: true }));

test('every ts code block in the library docs type-checks against the real API', async () => {
  const samples: Sample[] = [];
  for (const doc of DOCS) samples.push(...extract(doc, await readFile(join(root, doc), 'utf8')));
  assert.ok(samples.length >= 10, `found only ${samples.length} samples`);
  const files = new Map<string, Sample>();
  for (const [n, s] of samples.entries()) {
    const name = `${s.doc.replace(/[^a-z]/gi, '_')}_${String(n).padStart(3, '0')}.ts`;
    files.set(name, s);
    await writeFile(join(dir, name), s.code);
  }
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        types: ['node'],
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        noUnusedLocals: false,
        paths: { reloadkit: [relative(dir, join(root, 'src/index.ts'))] },
      },
      files: [...files.keys()],
    }),
  );
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const out = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: dir, maxBuffer: 16 * 1024 * 1024 }).then(
    () => '',
    (err: { stdout?: string }) => err.stdout ?? String(err),
  );
  // Point each error at the doc line it comes from.
  const errors = out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const m = /^([^(]+)\((\d+),(\d+)\): (.*)$/.exec(l);
      const s = m ? files.get(m[1]!) : undefined;
      if (!m || !s) return l;
      return `${s.doc}:${s.line + Number(m[2]) - 1 - s.preludeLines}:${m[3]}: ${m[4]}`;
    });
  assert.deepEqual(errors, []);
});
