// `reloadkit keygen` and `reloadkit sign` as functions (the CLI is a thin
// wrapper). Keys are Ed25519: the private key as PKCS#8 PEM (0600), the
// public key as SPKI PEM; signatures are the base64 of 64 bytes plus "\n".
import { constants } from 'node:fs';
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { lstat, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ReloadkitError } from '../shared/errors.js';
import { fsyncDirectory, writeFileAtomic } from './atomic-write.js';
import { SIGNATURE_SUFFIX } from './signature.js';
import { describeErrno } from '../shared/errno.js';

export const PRIVATE_KEY_FILE = 'reloadkit.key';
export const PUBLIC_KEY_FILE = 'reloadkit.pub';

export interface KeyPairPaths {
  privateKey: string;
  publicKey: string;
}

function keyError(message: string, cause?: unknown): ReloadkitError {
  return new ReloadkitError('ERR_KEY', message, cause === undefined ? undefined : { cause });
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Creates `path` (never replacing anything, never through a symlink) with `mode` and fsyncs it. */
async function writeNew(path: string, data: string, mode: number): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes DIR/reloadkit.key (PKCS#8 PEM, 0600) and DIR/reloadkit.pub (SPKI
 * PEM, 0644). Creates DIR (0700) if missing. Refuses to overwrite either
 * file: losing a signing key silently is worse than an error.
 */
export async function keygen(dir: string): Promise<KeyPairPaths> {
  const paths = { privateKey: join(dir, PRIVATE_KEY_FILE), publicKey: join(dir, PUBLIC_KEY_FILE) };
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw keyError(`cannot create ${dir}: ${describeErrno(err)}`, err);
  }
  if (!(await stat(dir)).isDirectory()) throw keyError(`${dir} is not a directory`);
  for (const p of [paths.privateKey, paths.publicKey]) {
    if (await exists(p)) throw keyError(`${p} already exists; refusing to overwrite a key (move it away first)`);
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const pubPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  try {
    await writeNew(paths.privateKey, privPem, 0o600);
  } catch (err) {
    throw keyError(`cannot write ${paths.privateKey}: ${describeErrno(err)}`, err);
  }
  try {
    await writeNew(paths.publicKey, pubPem, 0o644);
  } catch (err) {
    // A private key without its public half is useless; do not leave it behind.
    await unlink(paths.privateKey).catch(() => {});
    throw keyError(`cannot write ${paths.publicKey}: ${describeErrno(err)}`, err);
  }
  await fsyncDirectory(dir).catch(() => {});
  return paths;
}

/** Reads an Ed25519 private key (PKCS#8 PEM); the error never contains key material. */
export async function loadPrivateKey(keyPath: string): Promise<{ key: KeyObject; warnings: string[] }> {
  let text: string;
  let mode: number;
  try {
    text = await readFile(keyPath, 'utf8');
    mode = (await stat(keyPath)).mode;
  } catch (err) {
    throw keyError(`cannot read key ${keyPath}: ${describeErrno(err)}`, err);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch {
    throw keyError(`${keyPath}: not a PEM private key (expected the reloadkit.key written by \`reloadkit keygen\`)`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw keyError(`${keyPath}: is a ${key.asymmetricKeyType ?? 'unknown'} key; reloadkit signatures use Ed25519`);
  }
  const warnings: string[] = [];
  if ((mode & 0o077) !== 0) {
    warnings.push(`${keyPath} is accessible by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 it`);
  }
  return { key, warnings };
}

/** The `.sig` content for `bytes`: base64 of the 64-byte signature and a newline. */
export function signatureFor(key: KeyObject, bytes: Uint8Array): string {
  return `${sign(null, bytes, key).toString('base64')}\n`;
}

/**
 * Signs the exact bytes of `configPath` and writes `configPath.sig`
 * atomically (a watcher never sees half a signature).
 */
export async function signFile(keyPath: string, configPath: string): Promise<{ signaturePath: string; warnings: string[] }> {
  const { key, warnings } = await loadPrivateKey(keyPath);
  let bytes: Buffer;
  try {
    bytes = await readFile(configPath);
  } catch (err) {
    throw keyError(`cannot read ${configPath}: ${describeErrno(err)}`, err);
  }
  const signaturePath = configPath + SIGNATURE_SUFFIX;
  await writeFileAtomic(signaturePath, signatureFor(key, bytes), { mode: 0o644 });
  return { signaturePath, warnings };
}
