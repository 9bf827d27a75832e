// Build: tsc emits the library (dist/, with .d.ts) from src/.
// The CLI is bundled separately (see below) once src/cli exists, so the
// daemon starts fast without resolving hundreds of module files.
import { execFileSync } from 'node:child_process';
import { rmSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});
if (existsSync(`${root}src/cli/main.ts`)) {
  const { build } = await import('esbuild');
  await build({
    entryPoints: [`${root}src/cli/main.ts`],
    outfile: `${root}dist/cli.js`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    sourcemap: true,
    // Keep the ESM bundle able to require() CommonJS dependencies.
    banner: { js: "import { createRequire as __rkCreateRequire } from 'node:module'; const require = __rkCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}
console.log('build: dist/ ready');
