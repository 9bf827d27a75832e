// Build: dist/ as the package ships it.
// - dist/index.js: the library, bundled by esbuild into one ES module (plus
//   chunks in dist/lib/ for what loads only when asked for: the admin socket,
//   HTTP, metrics, the watcher). One file instead of ~45 keeps
//   `import 'reloadkit'` near `node -e 0`; its dependencies (yaml,
//   smol-toml, the optional prom-client) stay imports, installed by npm.
// - dist/index.d.ts: the public types only, in one file (dts-bundle-generator).
// - dist/cli.js + dist/chunks/: the CLI, bundled separately with everything it
//   needs (zod, pino, prom-client included), so the daemon starts fast and
//   those packages are not the library's dependencies.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const { build } = await import('esbuild');
await build({
  entryPoints: { index: `${root}src/index.ts` },
  outdir: `${root}dist`,
  splitting: true,
  chunkNames: 'lib/[name]-[hash]',
  bundle: true,
  // Every npm package stays an import: the user's npm installs and dedupes them.
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
});
// The public types, in one file: what src/index.ts exports and what those
// types refer to, nothing of the daemon or the engine's internals. The
// Standard Schema types are copied in (as that spec intends), so type-checking
// a consumer needs no package of ours beyond this one; the pack test checks
// the file (strict, without skipLibCheck), so it is not checked twice here.
const { generateDtsBundle } = await import('dts-bundle-generator');
const [declarations] = generateDtsBundle(
  [{ filePath: `${root}src/index.ts`, libraries: { inlinedLibraries: ['@standard-schema/spec'] }, output: { exportReferencedTypes: false, noBanner: true } }],
  { preferredConfigPath: `${root}tsconfig.build.json` },
);
writeFileSync(`${root}dist/index.d.ts`, declarations);
// The status page's files (HTML, CSS, browser script, icon) are served as
// they are: copied to dist/admin/page/, where both the library (its chunks in
// dist/lib/) and the bundled CLI (dist/cli.js, dist/chunks/) find them.
cpSync(`${root}src/admin/page`, `${root}dist/admin/page`, { recursive: true });
if (existsSync(`${root}src/cli/main.ts`)) {
  const result = await build({
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
    // The etcd client (gRPC) reads its .proto files from its own package
    // directory at run time, so it cannot be bundled: it stays a runtime
    // dependency, resolved from node_modules when fleet mode first uses it
    // (with cockatiel, its fault-handling library, loaded from etcd3's package).
    external: ['etcd3'],
    plugins: [cjsNamedExports()],
    metafile: true,
    logLevel: 'warning',
  });
  // Which chunk holds which module: the tests use it to check that a command
  // loads only the chunks it needs (written outside the package's files).
  mkdirSync(`${root}node_modules/.cache/reloadkit`, { recursive: true });
  writeFileSync(`${root}node_modules/.cache/reloadkit/cli-meta.json`, JSON.stringify(result.metafile));
}

/**
 * A CommonJS package loaded with `await import()` ends up in a chunk of its
 * own that esbuild can only give a default export; code written for Node
 * (which offers the named exports too) would then find them undefined
 * (`TypeError: x is not a function` in the built CLI only). Every bare import
 * that resolves to a CommonJS file is therefore served through a small ESM
 * module that re-exports each name the package exports, enumerated at build
 * time. Deciding by the resolved file (not a list of package names) keeps a
 * new CommonJS dependency from breaking the bundle silently.
 */
function cjsNamedExports() {
  const requireFromRoot = createRequire(`${root}package.json`);
  return {
    name: 'cjs-named-exports',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        // Only ESM imports: a require() inside a CommonJS package must keep getting module.exports itself.
        if (args.kind !== 'dynamic-import' && args.kind !== 'import-statement') return undefined;
        if (args.namespace === 'cjs-named-exports' || args.pluginData === 'cjs-inner' || args.path.startsWith('node:')) return undefined;
        const resolved = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'cjs-inner' });
        if (resolved.errors.length > 0 || resolved.external || !isCommonJs(resolved.path)) return undefined;
        return { path: args.path, namespace: 'cjs-named-exports' };
      });
      b.onLoad({ filter: /.*/, namespace: 'cjs-named-exports' }, (args) => {
        const names = Object.keys(requireFromRoot(args.path)).filter((k) => k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k));
        const spec = JSON.stringify(args.path);
        const named = names.length > 0 ? `export const { ${names.join(', ')} } = m;\n` : '';
        return { contents: `import m from ${spec};\nexport default m;\n${named}`, resolveDir: root };
      });
    },
  };
}

/** A file is CommonJS when it ends in .cjs, or .js under a package.json without "type": "module". */
function isCommonJs(file) {
  if (file.endsWith('.cjs')) return true;
  if (file.endsWith('.mjs') || !file.endsWith('.js')) return false;
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const type = JSON.parse(readFileSync(pkg, 'utf8')).type;
      // Nested package.json files without a name only set the type for their folder.
      return type !== 'module';
    }
  }
  return true;
}
console.log('build: dist/ ready');
