// `reloadkit validate`: checks a daemon config file (every problem with its
// file:line:column) and, with --targets, runs each target's check (e.g.
// `nginx -t`) without reloading anything.
import { resolve } from 'node:path';
import { uncheckedSignalWarning, type DaemonConfig } from '../daemon/config.js';
import { daemonConfigOf, ownConfigSource, type OwnConfig } from '../daemon/own-config.js';
import { noopLogger } from '../shared/logger.js';
import { err, EXIT, out, parse } from './common.js';
import { ConfigError } from '../shared/errors.js';
import { DEFAULT_CONFIG_PATH } from '../shared/defaults.js';

export const VALIDATE_HELP = `Usage: reloadkit validate [-c FILE] [--targets]

Checks a daemon config file: YAML syntax, every key and value (each problem
is reported as file:line:column). With --targets, also runs each target's
check (nginx -t, and the check argv any target may have) without reloading
anything. Warns about signal targets without process:.

Options:
  -c, --config FILE  daemon config (default: $RELOADKIT_CONFIG, else
                     ${DEFAULT_CONFIG_PATH})
  --targets          also run each target's check
  -h, --help         this help

Exit codes: 0 valid (and every check passed); 1 invalid or a check failed;
2 usage error.
`;

export async function validateCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, { config: { type: 'string', short: 'c' }, targets: { type: 'boolean' } }, 0);
  if (values.help) {
    out(VALIDATE_HELP);
    return EXIT.OK;
  }
  const file = resolve(values.config ?? (process.env.RELOADKIT_CONFIG || DEFAULT_CONFIG_PATH));
  let config: DaemonConfig;
  try {
    // The daemon's own loader: the same size limit and consistent read as `run`.
    config = daemonConfigOf((await ownConfigSource(file, {}).load({ signal: new AbortController().signal })).value as OwnConfig);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(e.problems.join('\n'));
    return EXIT.FAIL;
  }
  const names = Object.keys(config.targets);
  out(`${file}: ok (${names.length} target${names.length === 1 ? '' : 's'}${names.length > 0 ? `: ${names.join(', ')}` : ''})`);
  for (const [name, def] of Object.entries(config.targets)) {
    if (def.kind === 'signal' && def.process === undefined) err(`warning: ${name}: ${uncheckedSignalWarning}`);
  }
  if (!values.targets) return EXIT.OK;

  const { createDriver } = await import('../daemon/targets/index.js');
  const { waitForChildren } = await import('../daemon/targets/child.js');
  let failed = 0;
  // One at a time: the output reads in config order, and checks do not compete.
  for (const [name, def] of Object.entries(config.targets)) {
    const driver = createDriver(def);
    if (!driver.hasCheck) {
      out(`${name}: no check (${def.kind} target)`);
      continue;
    }
    try {
      await driver.check({ name, signal: new AbortController().signal, timeoutMs: def.timeout_ms, logger: noopLogger });
      out(`${name}: check ok`);
    } catch (e) {
      failed += 1;
      out(`${name}: check failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  await waitForChildren();
  return failed === 0 ? EXIT.OK : EXIT.FAIL;
}
