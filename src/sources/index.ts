// Config sources: where a unit's config comes from.
//
//   fileSource('config.yaml', { env: true })   one YAML, JSON or TOML file
//   dirSource('conf.d')                          fragments merged in name order
//   envSource({ prefix: 'APP_' })                APP_SERVER__PORT=8080 sets server.port
//   layers([fileSource(…), dirSource(…), envSource(…)])   sources merged in order
//
// A custom source is any object implementing ConfigSource (src/types.ts):
//
//   const source: ConfigSource = {
//     description: 'consul:app/config',          // shown in errors and logs
//     async load(ctx) {                          // called at the start of every pass
//       const value = await fetchConfig({ signal: ctx.signal });
//       return { value, files: [] };             // files: what was read (path, sha256, size)
//     },
//     watchSpecs: () => [],                      // paths whose change should start a pass
//   };
//
// `load` throws to fail the pass (status load_failed; the message becomes
// load_error, so say what and where, and never include secret values). It
// must return a fresh value each time; the engine freezes it. A source that
// reads files and sets `verifiesSignatures: true` must call
// `ctx.verify(path, bytes)` on the exact bytes it parses, before parsing.
export { fileSource, type FileSourceOptions, type FileConfigSource } from './file.js';
export { dirSource, DEFAULT_FRAGMENT_PATTERN, type DirSourceOptions, type DirConfigSource } from './dir.js';
export { envSource, type EnvSourceOptions, type EnvConfigSource } from './env.js';
export { layers, type LayeredConfigSource } from './layers.js';
export type { ConfigFormat } from './parse.js';
export type { EnvOption } from './normalize.js';
export { DEFAULT_MAX_BYTES } from './read.js';
