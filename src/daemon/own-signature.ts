// Signatures for the daemon's own config (`signature.public_key` at
// the top level). The key in effect is the one of the config the daemon
// started with (`signature.*` is restart-required): an attacker who can edit
// reloadkit.yaml cannot drop the requirement with a reload. At start the key
// is read from the very bytes being loaded, then those bytes are verified
// with it.
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { keyFileVerifier, type Verifier } from '../integrity/signature.js';

/** `signature.public_key` of a daemon config's bytes, resolved against the file's directory; undefined if absent or unreadable. */
export function peekSignatureKey(bytes: Uint8Array, configPath: string): string | undefined {
  try {
    // uniqueKeys: false: yaml's own duplicate-key check is quadratic; the config's parse refuses duplicates.
    const doc = parseDocument(Buffer.from(bytes).toString('utf8'), { uniqueKeys: false });
    const key: unknown = doc.getIn(['signature', 'public_key']);
    return typeof key === 'string' && key !== '' ? resolve(dirname(configPath), key) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The `verify` of the daemon's own unit. `bootKey()` is null before start,
 * then the (absolute) `signature.public_key` of the boot config, or undefined
 * when it had none.
 */
export function ownConfigVerifier(bootKey: () => string | undefined | null): Verifier {
  let pending: string | undefined;
  const verify = keyFileVerifier(() => pending);
  return async (path, bytes) => {
    const boot = bootKey();
    pending = boot === null ? peekSignatureKey(bytes, path) : boot;
    await verify(path, bytes);
  };
}
