// Revisions: the files of one push, checked before anything is written
// (relative paths only, no `..`, no symlinks, at most 1 MiB in all: etcd's
// default request limit is 1.5 MiB), optionally signed, and stored as
// revision N of a target, N given out by an etcd transaction (1, 2, 3, …).
//
// Stored value (binary, so file bytes are not inflated by base64):
//   "RKREV1\n" | uint32 BE manifest length | manifest JSON | file bytes, in manifest order
//
// Storing a revision also starts its rollout: see control.ts.
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { RevisionError } from '../shared/errors.js';
import { canonicalJson, sha256Hex } from '../shared/hash.js';
import type { EtcdStore } from '../etcd/client.js';
import { revisionKey, revisionsPrefix } from './keys.js';

/** At most this many bytes of file content per revision. */
export const MAX_REVISION_BYTES = 1024 * 1024;
/** At most this many files per revision. */
const MAX_REVISION_FILES = 1000;
const MAGIC = Buffer.from('RKREV1\n', 'latin1');
const SIGNED_PREFIX = 'reloadkit fleet revision v1\n';

export interface RevisionFile {
  /** Relative to the target's fleet.dir, `/`-separated, no `.` or `..` segments. */
  path: string;
  bytes: Buffer;
}

interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
  /** base64 Ed25519 signature over the file's exact bytes (as in FILE.sig), when the revision is signed. */
  sig?: string;
}

export interface RevisionManifest {
  fleet: string;
  target: string;
  revision: number;
  created_at: string;
  author: string;
  message: string;
  files: ManifestFile[];
  /** base64 Ed25519 signature over the manifest without signatures (binds fleet, target, number and every file). */
  signature?: string;
}

export interface Revision {
  manifest: RevisionManifest;
  files: RevisionFile[];
}

/** Checks one relative path as given; returns its `/`-separated form. */
export function checkRelativePath(path: string): string {
  if (path === '' || path.includes('\0')) throw new RevisionError(`${JSON.stringify(path)}: not a valid path`);
  if (isAbsolute(path) || path.startsWith('/')) {
    throw new RevisionError(
      `${path}: absolute paths are refused; give paths relative to the target's fleet.dir (run from the directory that holds them, or use --from DIR)`,
    );
  }
  const parts = path.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  if (path.split(/[\\/]+/).includes('..')) throw new RevisionError(`${path}: ".." is refused; every file must stay inside the target's fleet.dir`);
  if (parts.length === 0) throw new RevisionError(`${JSON.stringify(path)}: names no file`);
  if (parts.some((p) => p.length > 255)) throw new RevisionError(`${path}: a path component is longer than 255 bytes`);
  return parts.join('/');
}

/**
 * Reads the files named on the command line, relative to `baseDir`: files
 * as they are, directories with everything under them. Refuses absolute
 * paths, `..`, symlinks (anywhere on the path) and anything that is not a
 * regular file, and more than 1 MiB or 1000 files in all, before any byte
 * is sent anywhere.
 */
export async function collectPushFiles(paths: readonly string[], baseDir: string): Promise<RevisionFile[]> {
  if (paths.length === 0) throw new RevisionError('no files to push');
  const out = new Map<string, RevisionFile>();
  let total = 0;
  const add = async (rel: string): Promise<void> => {
    const full = join(baseDir, rel);
    let st;
    try {
      st = await lstat(full);
    } catch (err) {
      throw new RevisionError(`${rel}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    if (st.isSymbolicLink()) throw new RevisionError(`${rel}: is a symlink; symlinks are refused (push the file itself)`);
    if (st.isDirectory()) {
      for (const e of (await readdir(full)).sort()) await add(`${rel}/${e}`);
      return;
    }
    if (!st.isFile()) throw new RevisionError(`${rel}: not a regular file`);
    total += st.size;
    if (total > MAX_REVISION_BYTES)
      throw new RevisionError(
        `the files are larger than 1 MiB in all (at ${rel}: ${total} bytes so far); a revision holds at most ${MAX_REVISION_BYTES} bytes`,
      );
    if (out.size >= MAX_REVISION_FILES) throw new RevisionError(`more than ${MAX_REVISION_FILES} files; a revision holds at most ${MAX_REVISION_FILES}`);
    if (out.has(rel)) throw new RevisionError(`${rel}: named twice`);
    out.set(rel, { path: rel, bytes: await readFile(full) });
  };
  for (const p of paths) {
    const rel = checkRelativePath(p);
    // Every directory on the way must be a real directory, not a symlink.
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i += 1) {
      const dir = parts.slice(0, i).join('/');
      const st = await lstat(join(baseDir, dir)).catch(() => null);
      if (st?.isSymbolicLink()) throw new RevisionError(`${p}: ${dir} is a symlink; symlinks are refused`);
    }
    await add(rel);
  }
  if (total > MAX_REVISION_BYTES) throw new RevisionError(`the files are larger than 1 MiB in all (${total} bytes)`);
  return [...out.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The bytes a revision's signature covers. */
function signedBytes(m: RevisionManifest): Buffer {
  const { signature: _s, ...rest } = m;
  void _s;
  const files = rest.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 }));
  return Buffer.from(SIGNED_PREFIX + canonicalJson({ ...rest, files }), 'utf8');
}

export function buildManifest(base: Omit<RevisionManifest, 'files' | 'signature'>, files: readonly RevisionFile[], key?: KeyObject): RevisionManifest {
  const m: RevisionManifest = {
    ...base,
    files: files.map((f) => ({
      path: f.path,
      size: f.bytes.length,
      sha256: sha256Hex(f.bytes),
      ...(key ? { sig: cryptoSign(null, f.bytes, key).toString('base64') } : {}),
    })),
  };
  if (key) m.signature = cryptoSign(null, signedBytes(m), key).toString('base64');
  return m;
}

export function encodeRevision(r: Revision): Buffer {
  const manifest = Buffer.from(JSON.stringify(r.manifest), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(manifest.length);
  return Buffer.concat([MAGIC, len, manifest, ...r.files.map((f) => f.bytes)]);
}

/** Decodes a stored revision and checks every file's size and hash against its manifest. */
export function decodeRevision(value: Buffer, where: string): Revision {
  const bad = (why: string) => new RevisionError(`${where}: not a valid revision (${why})`);
  if (value.length < MAGIC.length + 4 || !value.subarray(0, MAGIC.length).equals(MAGIC)) throw bad('unknown format');
  const len = value.readUInt32BE(MAGIC.length);
  const start = MAGIC.length + 4;
  if (start + len > value.length) throw bad('truncated manifest');
  let manifest: RevisionManifest;
  try {
    manifest = JSON.parse(value.subarray(start, start + len).toString('utf8')) as RevisionManifest;
  } catch {
    throw bad('manifest is not JSON');
  }
  if (!Array.isArray(manifest.files) || typeof manifest.revision !== 'number') throw bad('manifest without files or number');
  const files: RevisionFile[] = [];
  let at = start + len;
  for (const f of manifest.files) {
    const path = checkRelativePath(String(f.path));
    if (path !== f.path) throw bad(`file path ${JSON.stringify(f.path)} is not in normal form`);
    const bytes = value.subarray(at, at + f.size);
    at += f.size;
    if (bytes.length !== f.size || sha256Hex(bytes) !== f.sha256) throw bad(`${f.path}: content does not match its hash`);
    files.push({ path, bytes: Buffer.from(bytes) });
  }
  if (at !== value.length) throw bad('trailing bytes');
  return { manifest, files };
}

/**
 * Checks a revision against a public key: the manifest signature (which
 * binds fleet, target, number and every file's hash), that the signed
 * fleet, target and number are the ones the host was asked to apply, and
 * every file's own signature. Returns null when valid, else the reason.
 */
export function verifyRevision(r: Revision, key: KeyObject, expect: { fleet: string; target: string; revision: number }): string | null {
  const m = r.manifest;
  if (m.signature === undefined) return 'the revision is not signed';
  if (m.fleet !== expect.fleet || m.target !== expect.target) return `the revision was signed for ${m.fleet}/${m.target}`;
  // The manifest's number is signed, but the host reads the revision by its key: a signed revision copied under another number is a replay.
  if (m.revision !== expect.revision) return `the revision was signed as revision ${m.revision}, not ${expect.revision} (a replay under another number)`;
  const ok = (bytes: Uint8Array, sig: string | undefined) => {
    if (sig === undefined) return false;
    try {
      return cryptoVerify(null, bytes, key, Buffer.from(sig, 'base64'));
    } catch {
      return false;
    }
  };
  if (!ok(signedBytes(m), m.signature)) return 'bad signature';
  for (let i = 0; i < r.files.length; i += 1) {
    if (!ok(r.files[i]!.bytes, m.files[i]!.sig)) return `${r.files[i]!.path}: bad signature`;
  }
  return null;
}

export async function readRevision(store: EtcdStore, fleet: string, target: string, revision: number): Promise<Revision | null> {
  const kv = await store.get(revisionKey(fleet, target, revision));
  return kv ? decodeRevision(kv.value, `revision ${revision} of ${target}`) : null;
}

/** Every stored revision's manifest, oldest first. */
export async function listRevisions(store: EtcdStore, fleet: string, target: string): Promise<RevisionManifest[]> {
  const kvs = await store.getPrefix(revisionsPrefix(fleet, target));
  return kvs.map((kv) => decodeRevision(kv.value, kv.key).manifest);
}
