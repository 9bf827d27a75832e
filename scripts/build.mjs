// Build: tsc emits the library (dist/, with .d.ts) from src/.
// The CLI is bundled separately (see below) once src/cli exists, so the
// daemon starts fast without resolving hundreds of module files.
import { execFileSync } from 'node:child_process';
import { rmSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
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
    // Split: dist/cli.js is small and each command loads only its own chunks
    // (`status` never parses zod, yaml or pino; `run` loads prom-client only
    // after its socket is up), which is what keeps start-up near `node -e 0`.
    entryPoints: { cli: `${root}src/cli/main.ts` },
    outdir: `${root}dist`,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    sourcemap: true,
    // Keep the ESM bundle able to require() CommonJS dependencies.
    banner: { js: "import { createRequire as __rkCreateRequire } from 'node:module'; const require = __rkCreateRequire(import.meta.url);" },
    plugins: [cjsNamedExports(['prom-client', 'pino'])],
    logLevel: 'warning',
  });
}

/**
 * A CommonJS package loaded with `await import()` ends up in a chunk of its
 * own that esbuild can only give a default export; code written for Node
 * (which offers the named exports too) would then find them undefined. This
 * serves those packages through a small ESM module that re-exports every
 * name the package exports, enumerated at build time.
 */
function cjsNamedExports(packages) {
  const requireFromRoot = createRequire(`${root}package.json`);
  const filter = new RegExp(`^(${packages.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`);
  return {
    name: 'cjs-named-exports',
    setup(b) {
      b.onResolve({ filter }, (args) => (args.namespace === 'cjs-named-exports' ? undefined : { path: args.path, namespace: 'cjs-named-exports' }));
      b.onLoad({ filter: /.*/, namespace: 'cjs-named-exports' }, (args) => {
        const names = Object.keys(requireFromRoot(args.path)).filter((k) => k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k));
        const spec = JSON.stringify(args.path);
        return { contents: `import m from ${spec};\nexport default m;\nexport const { ${names.join(', ')} } = m;\n`, resolveDir: root };
      });
    },
  };
}
console.log('build: dist/ ready');
