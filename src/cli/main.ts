// `reloadkit`: the command-line entry. This file stays small and
// loads each command on demand, so `reloadkit status` does not pay for zod,
// yaml, pino or prom-client, and `reloadkit run` loads them only as needed.
import pkg from '../../package.json' with { type: 'json' };
import { EXIT, type Command } from './common.js';
import { UsageError } from '../shared/errors.js';

/** Every subcommand. */
export const COMMANDS: Record<string, Command> = {
  run: { summary: 'run the reload daemon', load: async () => (await import('./run.js')).runCommand },
  reload: { summary: 'reload every unit (or one) through the daemon and wait for the results', load: async () => (await import('./client.js')).reloadCommand },
  status: { summary: 'show every unit and its last reload', load: async () => (await import('./client.js')).statusCommand },
  validate: { summary: 'check a daemon config file (and, with --targets, each target)', load: async () => (await import('./validate.js')).validateCommand },
  keygen: { summary: 'create an Ed25519 key pair for signed configs', load: async () => (await import('./keys.js')).keygenCommand },
  sign: { summary: 'sign config files (writes FILE.sig)', load: async () => (await import('./keys.js')).signCommand },
  fleet: { summary: 'push a revision to a fleet of hosts through etcd; fleet status and history', load: async () => (await import('./fleet.js')).fleetCommand },
};

export function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `reloadkit ${pkg.version}: make configuration changes take effect safely, without restarts

Usage: reloadkit <command> [options]

Commands:
${lines.join('\n')}

  reloadkit <command> --help   options of a command
  reloadkit --version          print the version

Exit codes: 0 success; 1 a reload, check or validation failed; 2 usage error or the daemon cannot be reached.
`;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    if (topic !== undefined && Object.hasOwn(COMMANDS, topic)) return main([topic, '--help']);
    process.stdout.write(mainHelp());
    return first === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (first === '--version' || first === '-V' || first === 'version') {
    process.stdout.write(`reloadkit ${pkg.version}\n`);
    return EXIT.OK;
  }
  if (!Object.hasOwn(COMMANDS, first)) {
    process.stderr.write(`reloadkit: unknown command ${JSON.stringify(first)}\n\n${mainHelp()}`);
    return EXIT.USAGE;
  }
  const run = await COMMANDS[first]!.load();
  try {
    return await run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`reloadkit ${first}: ${err.message}\n(see: reloadkit ${first} --help)\n`);
      return EXIT.USAGE;
    }
    throw err;
  }
}

// Run when executed (tsx src/cli/main.ts, or the dist/cli.js bundle via bin/reloadkit.js).
const invoked = process.argv[1] ?? '';
if (/(?:^|[\\/])(?:main\.ts|cli\.js|reloadkit(?:\.js)?)$/.test(invoked)) {
  main(process.argv.slice(2)).then(
    (code) => {
      // `run` exits itself after its shutdown; other commands end here.
      if (code >= 0) process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`reloadkit: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = EXIT.FAIL;
    },
  );
}
