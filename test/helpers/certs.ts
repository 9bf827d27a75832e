// Self-signed certificates for TLS tests, made by the real `openssl` CLI
// (node:crypto cannot sign an X.509 certificate by itself). Missing openssl
// fails the test under CI=true and skips it loudly elsewhere.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  /** SHA-256 fingerprint as node reports it (`AA:BB:…`). */
  fingerprint256: string;
}

let available: boolean | undefined;

/** True when openssl runs; throws under CI=true when it does not (CI installs it). */
export async function opensslAvailable(): Promise<boolean> {
  if (available === undefined) {
    available = await run('openssl', ['version']).then(
      () => true,
      () => false,
    );
  }
  if (!available && process.env.CI === 'true') {
    throw new Error('openssl is required for the TLS tests under CI=true (apt-get install openssl)');
  }
  if (!available) console.warn('\n*** openssl not found: TLS tests SKIPPED (install openssl to run them) ***\n');
  return available;
}

async function describePair(certFile: string, keyFile: string): Promise<CertPair> {
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  return { certFile, keyFile, cert, key, fingerprint256: new X509Certificate(cert).fingerprint256 };
}

/** A fresh EC key and a self-signed certificate for localhost/127.0.0.1, written as `<name>.crt`/`<name>.key` in `dir`. */
export async function makeCert(dir: string, name: string, cn = 'localhost'): Promise<CertPair> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  return describePair(certFile, keyFile);
}

/** A self-signed certificate that expired in 2020 (via `openssl ca`, the only way to set past dates in OpenSSL 3.0). */
export async function makeExpiredCert(dir: string, name: string): Promise<CertPair> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  await run('openssl', [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    csr,
    '-subj',
    '/CN=localhost',
  ]);
  const db = join(dir, `${name}.index`);
  const serial = join(dir, `${name}.serial`);
  const cnf = join(dir, `${name}.cnf`);
  await writeFile(db, '');
  await writeFile(serial, '01\n');
  await writeFile(
    cnf,
    `[ca]\ndefault_ca = d\n[d]\ndatabase = ${db}\nnew_certs_dir = ${dir}\nserial = ${serial}\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n`,
  );
  await run('openssl', [
    'ca',
    '-batch',
    '-config',
    cnf,
    '-selfsign',
    '-keyfile',
    keyFile,
    '-in',
    csr,
    '-out',
    certFile,
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
    '-notext',
  ]);
  return describePair(certFile, keyFile);
}
