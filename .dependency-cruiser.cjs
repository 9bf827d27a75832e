// Layer rules for src/ (run by `npm run lint`). From the bottom up:
//   shared → engine → sources, triggers, hooks, admin, integrity → runtime → library, daemon → cli
// with etcd/ (the etcd client, loaded only when used) beside engine, and
// fleet/ (the fleet agent, push, rollouts) between the runtime and the daemon.
// A folder may import the layers below it, never one above or beside it
// that is not listed, and nothing may form an import cycle.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'An import cycle: split the shared part out, or pass it in through an interface.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'shared-is-a-leaf',
      severity: 'error',
      comment: 'src/shared/ imports nothing else from src/.',
      from: { path: '^src/shared/' },
      to: { path: '^src/', pathNot: '^src/shared/' },
    },
    {
      name: 'engine-only-shared',
      severity: 'error',
      comment: 'The engine is the centre: it imports only src/shared/. Other layers plug in through engine/plugins.ts.',
      from: { path: '^src/engine/' },
      to: { path: '^src/', pathNot: '^src/(engine|shared)/' },
    },
    {
      name: 'around-the-engine',
      severity: 'error',
      comment: 'sources, triggers and hooks build on the engine and shared only.',
      from: { path: '^src/(sources|triggers|hooks)/' },
      to: { path: '^src/', pathNot: '^src/(engine|shared|sources|triggers|hooks|etcd)/' },
    },
    {
      name: 'admin-knows-no-caller',
      severity: 'error',
      comment: 'admin/ serves whatever host it is given: it knows nothing of the daemon, the library or the runtime.',
      from: { path: '^src/admin/' },
      to: { path: '^src/(daemon|library|runtime|cli|fleet|integrity|sources|triggers|hooks)/' },
    },
    {
      name: 'integrity-below-runtime',
      severity: 'error',
      from: { path: '^src/integrity/' },
      to: { path: '^src/(admin|runtime|library|daemon|cli|fleet|triggers|hooks)/' },
    },
    {
      name: 'runtime-below-faces',
      severity: 'error',
      comment: 'The runtime is shared by the library and the daemon: it imports neither.',
      from: { path: '^src/runtime/' },
      to: { path: '^src/(library|daemon|cli|fleet)/' },
    },
    {
      name: 'library-not-daemon',
      severity: 'error',
      from: { path: '^src/library/' },
      to: { path: '^src/(daemon|cli|fleet)/' },
    },
    {
      name: 'daemon-not-library',
      severity: 'error',
      comment: 'The daemon is built from the runtime, like the library, not from the library.',
      from: { path: '^src/daemon/' },
      to: { path: '^src/(library|cli)/' },
    },
    {
      name: 'etcd-client-is-low',
      severity: 'error',
      comment: 'The etcd client wrapper builds on shared only.',
      from: { path: '^src/etcd/' },
      to: { path: '^src/', pathNot: '^src/(etcd|shared)/' },
    },
    {
      name: 'fleet-below-daemon',
      severity: 'error',
      comment: 'The fleet agent is given what it needs (targets as bindings); it knows neither face nor the CLI.',
      from: { path: '^src/fleet/' },
      to: { path: '^src/(daemon|library|cli|runtime)/' },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type from a layer above is still a dependency on it.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
