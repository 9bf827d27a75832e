// Detached Ed25519 signatures. `FILE.sig` holds the base64 of
// the 64-byte signature over the exact bytes of FILE that are parsed: the
// source reads a file once, hands those bytes to verify(), and parses the
// same buffer, so nothing can change between the check and the use (the
// check that verifies other files than the ones it loads proves nothing).
//
// Key material never appears in an error, a log line or a result: messages
// name files and reasons only.
import { constants, readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { open } from 'node:fs/promises';
import { OptionsError, type ReloadkitError, SignatureError, type SignatureFailureReason } from '../shared/errors.js';
import { readInto } from '../sources/read.js';
import type { ConfigSource, WatchSpec } from '../shared/types.js';

/** The library's `signature` option. */
export type SignatureOptions = { publicKey: string | KeyObject } | { publicKeyFile: string };

export const SIGNATURE_SUFFIX = '.sig';
const SIGNATURE_BYTES = 64;
/** Base64 of 64 bytes is 88 characters; anything much larger is not a signature file. */
const MAX_SIG_FILE_BYTES = 1024;
const BASE64_SIG = /^[A-Za-z0-9+/]{86}==$/;

function optionsError(message: string): ReloadkitError {
  return new OptionsError(message);
}

function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'file not found';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return code ?? 'read failed';
  }
}

/**
 * Turns PEM text or a KeyObject into an Ed25519 public KeyObject. A private
 * key is refused: a service should never hold the signing key.
 */
function parsePublicKey(key: string | KeyObject, what = 'signature.publicKey'): KeyObject {
  let pub: KeyObject;
  if (typeof key === 'string') {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
      throw optionsError(`${what}: is a private key; give the public key (reloadkit.pub), the private key stays with the signer`);
    }
    try {
      pub = process.getBuiltinModule('node:crypto').createPublicKey({ key, format: 'pem' });
    } catch {
      throw optionsError(`${what}: not a PEM public key (expected the SPKI PEM written by \`reloadkit keygen\`)`);
    }
  } else if (key && typeof key === 'object' && 'asymmetricKeyType' in key) {
    if (key.type !== 'public') {
      throw optionsError(`${what}: is a ${key.type} key; give the public key`);
    }
    pub = key;
  } else {
    throw optionsError(`${what}: expected PEM text or a KeyObject`);
  }
  if (pub.asymmetricKeyType !== 'ed25519') {
    throw optionsError(`${what}: is a ${pub.asymmetricKeyType ?? 'unknown'} key; reloadkit signatures use Ed25519`);
  }
  return pub;
}

/** Reads and parses the public key of a `signature` option; throws ERR_OPTIONS with the reason. */
function loadPublicKey(options: SignatureOptions): KeyObject {
  if (!options || typeof options !== 'object') throw optionsError('signature: expected { publicKey } or { publicKeyFile }');
  if ('publicKeyFile' in options && options.publicKeyFile !== undefined) {
    if (typeof options.publicKeyFile !== 'string' || options.publicKeyFile === '') {
      throw optionsError('signature.publicKeyFile: expected a file path');
    }
    let text: string;
    try {
      text = readFileSync(options.publicKeyFile, 'utf8');
    } catch (err) {
      throw optionsError(`signature.publicKeyFile: cannot read ${options.publicKeyFile}: ${ioReason(err)}`);
    }
    return parsePublicKey(text, `signature.publicKeyFile ${options.publicKeyFile}`);
  }
  if ('publicKey' in options && options.publicKey !== undefined) return parsePublicKey(options.publicKey);
  throw optionsError('signature: expected { publicKey } or { publicKeyFile }');
}

/** Decodes a `.sig` file's content; null when it is not the base64 of 64 bytes. */
export function decodeSignature(content: Uint8Array): Buffer | null {
  // A trailing newline (or CRLF) is allowed; nothing else around the base64.
  const text = Buffer.from(content)
    .toString('latin1')
    .replace(/\r?\n$/, '');
  if (!BASE64_SIG.test(text)) return null;
  const sig = Buffer.from(text, 'base64');
  return sig.length === SIGNATURE_BYTES ? sig : null;
}

async function readSignatureFile(sigPath: string): Promise<Buffer | SignatureFailureReason> {
  let fh;
  try {
    // O_NONBLOCK: a FIFO planted at FILE.sig must not hang the load.
    fh = await open(sigPath, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing signature';
    return `cannot read signature: ${ioReason(err)}`;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return 'cannot read signature: not a regular file';
    if (st.size > MAX_SIG_FILE_BYTES) return 'malformed signature (expected the base64 of a 64-byte Ed25519 signature)';
    const buf = Buffer.alloc(MAX_SIG_FILE_BYTES + 1);
    return buf.subarray(0, await readInto(fh, buf));
  } catch (err) {
    return `cannot read signature: ${ioReason(err)}`;
  } finally {
    await fh.close().catch(() => {});
  }
}

export type Verifier = (path: string, bytes: Uint8Array) => Promise<void>;

/**
 * The `verify(path, bytes)` a unit hands to its source: reads `path.sig` and
 * checks it against the bytes the source is about to parse. Throws a
 * SignatureError naming the file and the reason.
 */
export function createVerifier(options: SignatureOptions): Verifier {
  const key = loadPublicKey(options);
  return async (path, bytes) => {
    const content = await readSignatureFile(path + SIGNATURE_SUFFIX);
    if (typeof content === 'string') throw new SignatureError(path, content);
    const sig = decodeSignature(content);
    if (!sig) throw new SignatureError(path, 'malformed signature (expected the base64 of a 64-byte Ed25519 signature)');
    let ok: boolean;
    try {
      ok = process.getBuiltinModule('node:crypto').verify(null, bytes, key, sig);
    } catch {
      ok = false;
    }
    if (!ok) throw new SignatureError(path, 'bad signature');
  };
}

/**
 * The source as the watcher should see it when signatures are required:
 * every watched file's `FILE.sig` is watched too, so re-signing (often
 * written just after the config) starts a pass instead of waiting for the
 * rescan. Loading is unchanged.
 */
export function withSignatureWatch<S extends ConfigSource>(source: S): ConfigSource {
  const specs = source.watchSpecs;
  if (typeof specs !== 'function') return source;
  return {
    get description() {
      return source.description;
    },
    load: (ctx) => source.load(ctx),
    ...(source.verifiesSignatures === undefined ? {} : { verifiesSignatures: source.verifiesSignatures }),
    watchSpecs: () =>
      specs.call(source).flatMap((spec): WatchSpec[] => {
        if (spec.filter) {
          const filter = spec.filter;
          return [{ ...spec, filter: (rel) => filter(rel) || (rel.endsWith(SIGNATURE_SUFFIX) && filter(rel.slice(0, -SIGNATURE_SUFFIX.length))) }];
        }
        // A whole tree is watched already; a single file gets its signature beside it.
        return spec.recursive ? [spec] : [spec, { path: spec.path + SIGNATURE_SUFFIX }];
      }),
  };
}

/**
 * A verifier whose key file is looked up on every call, for definitions that
 * change live (daemon targets): no key file → no check. Each key file is read
 * once (changing a key's content takes a restart, as in the library); an
 * unreadable or invalid key fails the check with the reason.
 */
export function keyFileVerifier(keyFile: () => string | undefined): Verifier {
  const cache = new Map<string, Verifier>();
  return async (path, bytes) => {
    const file = keyFile();
    if (file === undefined) return;
    let verify = cache.get(file);
    if (!verify) {
      verify = createVerifier({ publicKeyFile: file });
      cache.set(file, verify);
    }
    await verify(path, bytes);
  };
}
