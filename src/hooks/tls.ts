// tlsHook: certificate rotation without a restart.
//
// check loads the pair the new config names and refuses it unless both
// parse, the key matches the certificate, the certificate has not expired
// and node can build a secure context from them. apply hands the pair to
// `server.setSecureContext()`: connections already open keep their session,
// new handshakes present the new certificate.
//
// "Unchanged" is decided on the bytes, not on the paths: certbot and
// cert-manager rotate a certificate in place, under the same path, so a
// reload with an identical config must still pick the new files up. The
// hook remembers a hash of the pair in effect and skips only when the
// bytes it just loaded hash the same.
import type { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import { errorMessage, LoadError, OptionsError, refuseUnknownKeys } from '../shared/errors.js';
import type { NextPrevHook } from '../shared/types.js';
import { selection, type ConfigWith, type Selection } from './select.js';
import { sha256Hex } from '../shared/hash.js';

/** What the hook needs of a server; `https.Server`, `tls.Server` and `http2` secure servers have it. */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

/** A loaded, verified certificate and key, ready for `https.createServer` or `setSecureContext`. */
export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  passphrase?: string;
}

interface LoadedPair extends TlsPair {
  hash: string;
}

interface TlsHookCommon {
  /** Hook name in results (default `tls-certificate`). */
  name?: string;
  /** Directory relative file paths are resolved against (default: the working directory at creation). */
  baseDir?: string;
  /** Passphrase of an encrypted private key. */
  passphrase?: string;
}

export interface TlsHookPathOptions<PCert extends string, PKey extends string> extends TlsHookCommon {
  /** Dotted path to the certificate (chain) file, or to PEM text, in the config. */
  cert: PCert;
  /** Dotted path to the private key file, or to PEM text, in the config. */
  key: PKey;
}

export interface TlsHookSelectorOptions<C> extends TlsHookCommon {
  /** Returns the certificate (chain) file path, or PEM text. */
  cert: (config: C) => string;
  /** Returns the private key file path, or PEM text. */
  key: (config: C) => string;
}

export interface TlsHook<C> extends NextPrevHook<C> {
  /**
   * Loads and verifies the pair `config` names, for creating the server
   * (`https.createServer({ ...await tls.serverOptions(reloader.current()) })`),
   * and remembers it as the pair in effect, so the next reload skips it when
   * the files did not change. Rejects with the same message `check` would give.
   */
  serverOptions(config: C): Promise<TlsPair>;
}

type ServerRef = SecureContextTarget | (() => SecureContextTarget | undefined);

const PEM = /-----BEGIN [A-Z0-9 ]+-----/;

function where(sel: Selection, label: string): string {
  return sel.description === 'selector' ? `${label} (selector)` : `${label} (${sel.description})`;
}

async function material(sel: Selection, label: string, config: unknown, baseDir: string): Promise<{ bytes: Buffer; from: string }> {
  const value = sel.pick(config);
  if (typeof value !== 'string' || value === '') {
    throw new Error(`${where(sel, label)}: expected a file path or PEM text, got ${value === '' ? 'an empty string' : typeof value}`);
  }
  if (PEM.test(value)) return { bytes: Buffer.from(value), from: `${where(sel, label)} PEM text` };
  const file = resolve(baseDir, value);
  try {
    return { bytes: await readFile(file), from: file };
  } catch (err) {
    throw new Error(`${where(sel, label)}: cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Loads the pair and proves it usable; throws one clear sentence otherwise. */
async function loadPair(certSel: Selection, keySel: Selection, config: unknown, baseDir: string, passphrase?: string): Promise<LoadedPair> {
  // node:crypto and node:tls load when a certificate is first checked, not with `import 'reloadkit'`.
  const { createPrivateKey, X509Certificate } = process.getBuiltinModule('node:crypto');
  const { createSecureContext } = process.getBuiltinModule('node:tls');
  const [cert, key] = await Promise.all([material(certSel, 'certificate', config, baseDir), material(keySel, 'private key', config, baseDir)]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert.bytes);
  } catch (err) {
    throw new Error(`certificate ${cert.from} does not load: ${errorMessage(err)}`, { cause: err });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(passphrase === undefined ? key.bytes : { key: key.bytes, passphrase });
  } catch (err) {
    // The message is OpenSSL's reason; it never contains key material.
    throw new Error(`private key ${key.from} does not load: ${errorMessage(err)}`, { cause: err });
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new Error(`certificate ${cert.from} and private key ${key.from} do not match`);
  }
  const notAfter = Date.parse(x509.validTo);
  if (Number.isFinite(notAfter) && notAfter <= Date.now()) {
    throw new Error(`certificate ${cert.from} expired on ${x509.validTo}`);
  }
  const pair: TlsPair = { cert: cert.bytes, key: key.bytes, ...(passphrase === undefined ? {} : { passphrase }) };
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new Error(`certificate ${cert.from} and key ${key.from} do not make a TLS context: ${errorMessage(err)}`, { cause: err });
  }
  const hash = sha256Hex(Buffer.concat([cert.bytes, Buffer.from([0]), key.bytes]));
  return { ...pair, hash };
}

/**
 * Rotates the certificate of a TLS server (`server.setSecureContext`).
 * `cert` and `key` name where the config holds a file path or PEM text:
 * dotted paths (checked against the config type) or selectors. `server`
 * may be a function returning it, for servers created after `start()`.
 */
export function tlsHook<PCert extends string, PKey extends string>(
  server: ServerRef,
  options: TlsHookPathOptions<PCert, PKey>,
): TlsHook<ConfigWith<PCert, string> & ConfigWith<PKey, string>>;
export function tlsHook<C>(server: ServerRef, options: TlsHookSelectorOptions<C>): TlsHook<C>;
export function tlsHook(server: ServerRef, options: TlsHookPathOptions<string, string> | TlsHookSelectorOptions<never>): TlsHook<unknown> {
  const name = options?.name ?? 'tls-certificate';
  refuseUnknownKeys(`tlsHook "${name}"`, options, ['cert', 'key', 'name', 'baseDir', 'passphrase']);
  for (const key of ['name', 'baseDir', 'passphrase'] as const) {
    const v = options[key];
    if (v !== undefined && (typeof v !== 'string' || v === '')) throw new OptionsError(`tlsHook "${name}": ${key} must be a non-empty string, got ${typeof v}`);
  }
  if (typeof server !== 'function' && typeof server?.setSecureContext !== 'function') {
    throw new OptionsError(`tlsHook "${name}": server must have setSecureContext() (an https or tls server) or be a function returning one`);
  }
  const certSel = selection(`tlsHook "${name}" cert`, options.cert);
  const keySel = selection(`tlsHook "${name}" key`, options.key);
  const baseDir = resolve(options.baseDir ?? '.');
  const load = (config: unknown) => loadPair(certSel, keySel, config, baseDir, options.passphrase);

  let applied: LoadedPair | null = null;
  // The pair check loaded for a candidate config, reused by its apply.
  let prepared: { next: unknown; pair: LoadedPair } | null = null;
  // What the last apply replaced, for rollback.
  let replaced: LoadedPair | null = null;

  const target = (): SecureContextTarget => {
    const t = typeof server === 'function' ? server() : server;
    if (!t) throw new Error('no server to give the certificate to yet (the server function returned nothing)');
    return t;
  };
  const install = (pair: LoadedPair): void => {
    const { cert, key, passphrase } = pair;
    target().setSecureContext({ cert, key, ...(passphrase === undefined ? {} : { passphrase }) });
  };

  return {
    name,
    args: 'next-prev',
    async check(next) {
      prepared = { next, pair: await load(next) };
    },
    async apply(next) {
      const ready = prepared;
      prepared = null;
      const pair = ready !== null && ready.next === next ? ready.pair : await load(next);
      if (applied !== null && pair.hash === applied.hash) return 'skipped';
      install(pair);
      replaced = applied;
      applied = pair;
      return 'applied';
    },
    rollback() {
      if (!replaced) throw new Error('the certificate in effect before is unknown (server not created from serverOptions()); the new one stays');
      install(replaced);
      applied = replaced;
    },
    async serverOptions(config) {
      let pair: LoadedPair;
      try {
        pair = await load(config);
      } catch (err) {
        // Called by the service at boot, outside any pass: an error of the catalogue, naming the hook.
        throw new LoadError(`tlsHook "${name}": ${errorMessage(err)}`, { cause: err });
      }
      applied = pair;
      const { cert, key, passphrase } = pair;
      return { cert, key, ...(passphrase === undefined ? {} : { passphrase }) };
    },
  };
}
