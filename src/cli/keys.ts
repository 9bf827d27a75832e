// `reloadkit keygen --out DIR` and `reloadkit sign --key FILE CONFIG...`
// Registered in src/cli/main.ts; the work is in keys.ts.
import { resolve } from 'node:path';
import { err, EXIT, out, parse } from './common.js';
import { errorMessage, UsageError } from '../shared/errors.js';
import { keygen, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, signFile } from '../integrity/keys.js';

export const KEYGEN_HELP = `Usage: reloadkit keygen --out DIR

Creates an Ed25519 key pair for signed configs:
  DIR/${PRIVATE_KEY_FILE}  private key (PKCS#8 PEM, mode 0600): keep it with whoever signs
  DIR/${PUBLIC_KEY_FILE}  public key (SPKI PEM): give it to the service
                   (library: signature: { publicKeyFile }, daemon: signature.public_key)
DIR is created (0700) if missing. Existing keys are never overwritten.

Options:
  -o, --out DIR  where to write the keys (required)
  -h, --help     this help

Exit codes: 0 written; 1 could not write (or a key exists); 2 usage error.
`;

export const SIGN_HELP = `Usage: reloadkit sign --key FILE CONFIG [CONFIG...]

Signs the exact bytes of each CONFIG with the private key and writes
CONFIG.sig (base64 of the 64-byte Ed25519 signature), replacing it
atomically. Sign after every edit: a config whose .sig does not match is
refused (load_failed) and the old config stays in effect.

Options:
  -k, --key FILE  the private key written by \`reloadkit keygen\` (required)
  -h, --help      this help

Exit codes: 0 every file signed; 1 a file could not be signed; 2 usage error.
`;

export async function keygenCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, { out: { type: 'string', short: 'o' } }, 0);
  if (values.help) {
    out(KEYGEN_HELP);
    return EXIT.OK;
  }
  if (values.out === undefined || values.out === '') throw new UsageError('--out DIR is required');
  try {
    const paths = await keygen(resolve(values.out));
    out(`wrote ${paths.privateKey} (private key, mode 0600: keep it with the signer, never on the service host)`);
    out(`wrote ${paths.publicKey} (public key: configure it as the service's signature key)`);
    return EXIT.OK;
  } catch (e) {
    err(`reloadkit keygen: ${errorMessage(e)}`);
    return EXIT.FAIL;
  }
}

export async function signCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parse(argv, { key: { type: 'string', short: 'k' } }, Number.POSITIVE_INFINITY);
  if (values.help) {
    out(SIGN_HELP);
    return EXIT.OK;
  }
  if (values.key === undefined || values.key === '') throw new UsageError('--key FILE is required');
  if (positionals.length === 0) throw new UsageError('name the CONFIG file(s) to sign');
  let failed = 0;
  const warned = new Set<string>();
  for (const config of positionals) {
    try {
      const { signaturePath, warnings } = await signFile(resolve(values.key), resolve(config));
      for (const w of warnings) {
        if (!warned.has(w)) err(`reloadkit sign: warning: ${w}`);
        warned.add(w);
      }
      out(`wrote ${signaturePath}`);
    } catch (e) {
      failed += 1;
      err(`reloadkit sign: ${errorMessage(e)}`);
    }
  }
  return failed === 0 ? EXIT.OK : EXIT.FAIL;
}
