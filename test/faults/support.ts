// Shared pieces of the fault suite: the built CLI (what operators run), the
// library as a real process (fixtures/library-host.ts), an unprivileged user
// for permission faults (root bypasses file modes), memory readings from
// /proc, tiny tmpfs mounts, and one cleanup that every file registers with
// `after(cleanup)` so no process, mount or temp dir outlives a failed test.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, lstatSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRunning } from '../../src/daemon/targets/proc.js';
import { cliEntry } from '../helpers/cli-entry.js';
import { ROOT, startDaemon, type DaemonHandle, type StartOptions } from '../integration/daemon-process.js';
import { waitFor } from '../integration/helpers.js';
import type { HostOptions } from './fixtures/library-host.js';

const HOST = fileURLToPath(new URL('./fixtures/library-host.ts', import.meta.url));
const isRoot = process.getuid?.() === 0;

// ---- what to clean up ------------------------------------------------------

const processes = new Set<DaemonHandle>();
const dirs: string[] = [];
const mounts: string[] = [];
/** Process groups a test started outside our handles (e.g. reload commands orphaned by a kill -9). */
const groups = new Set<number>();

/** SIGKILLs every process started through this module, unmounts, removes temp dirs. Never throws. */
export async function cleanup(): Promise<void> {
  for (const p of processes) await p.stop('SIGKILL').catch(() => {});
  processes.clear();
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // gone
    }
  }
  groups.clear();
  for (const m of mounts.splice(0)) {
    try {
      execFileSync('umount', [m], { stdio: 'pipe' });
    } catch {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'pipe' });
      } catch {
        // not mounted any more
      }
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true, maxRetries: 3 });
}

/** Kills process group `pgid` at cleanup (if it is still there). */
export function killGroupAtCleanup(pgid: number): void {
  groups.add(pgid);
}

/** A fresh temp dir (real path), removed at cleanup; owned by `creds` when given, so that user can work in it. */
export function tempDir(prefix: string, creds: Creds = {}): string {
  const d = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  dirs.push(d);
  if (creds.uid !== undefined) chownSync(d, creds.uid, creds.gid ?? creds.uid);
  return d;
}

/** Gives `path` (and everything under it) to `creds`' user; nothing when running as ourselves. */
export function chownTree(path: string, creds: Creds): void {
  if (creds.uid === undefined) return;
  const gid = creds.gid ?? creds.uid;
  const walk = (p: string) => {
    chownSync(p, creds.uid!, gid);
    if (lstatSync(p).isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(path);
}

// ---- users -----------------------------------------------------------------

export interface Creds {
  uid?: number;
  gid?: number;
}

/**
 * Credentials for a process that file permissions apply to: `nobody` when
 * we are root (root bypasses modes), ourselves otherwise (empty).
 */
export function unprivileged(): Creds {
  if (!isRoot) return {};
  const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
  // The checkout (node_modules, src, dist) must be readable by that user, e.g. not under a 0700 /root.
  const probe = spawnSync(process.execPath, ['-e', 'require("fs").accessSync(process.argv[1], 4)', join(ROOT, 'package.json')], { uid, gid, encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      `these tests run processes as nobody (root bypasses file modes), but nobody cannot run node on ${ROOT}: ` +
        `make the checkout and its parent directories world-readable (chmod o+rx) ${probe.error?.message ?? probe.stderr.trim().split('\n')[0] ?? ''}`,
    );
  }
  return { uid, gid };
}

// ---- the built CLI ---------------------------------------------------------

/** The daemon from the built CLI, tracked for cleanup. */
export async function startBuiltDaemon(o: Omit<StartOptions, 'entry'>): Promise<DaemonHandle> {
  const d = await startDaemon({ ...o, entry: cliEntry() });
  track(d);
  return d;
}

function track(d: DaemonHandle): void {
  processes.add(d);
  void d.exited.then(() => processes.delete(d));
}

export interface DaemonDir {
  dir: string;
  socket: string;
  /** `run` arguments: `-c DIR/reloadkit.yaml`. */
  args: string[];
}

/**
 * A temp dir with `files` (name → content) and a reloadkit.yaml: state in
 * ./state, the socket at ./admin.sock, HTTP off, then `head` (top-level
 * keys) and `targets` (YAML indented under `targets:`).
 */
export function daemonDir(prefix: string, files: Record<string, string>, targets: string, head = '', creds: Creds = {}): DaemonDir {
  const dir = tempDir(prefix, creds);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  writeFileSync(join(dir, 'reloadkit.yaml'), `state_dir: ./state\nadmin:\n  socket: ./admin.sock\n  http: ""\n${head}targets:\n${targets}`);
  chownTree(dir, creds);
  return { dir, socket: join(dir, 'admin.sock'), args: ['-c', join(dir, 'reloadkit.yaml')] };
}

// ---- the library as a process ----------------------------------------------

export type { HostOptions };

/**
 * Starts fixtures/library-host.ts (createReloader over `file`, admin socket
 * at `socket`) and waits for its "host started" line, or its exit.
 */
export async function startHost(o: HostOptions & Creds & { waitStarted?: boolean }): Promise<DaemonHandle> {
  const { uid, gid, waitStarted, ...host } = o;
  const h = await startDaemon({
    entry: ['--import', 'tsx', HOST],
    args: [JSON.stringify(host)],
    socket: host.socket,
    waitStarted: false,
    ...(uid === undefined ? {} : { uid, gid: gid ?? uid }),
  });
  track(h);
  if (waitStarted !== false) await h.waitForLine((l) => l.msg === 'host started', 'library host start', 0, 60_000);
  return h;
}

export interface Reply {
  status: string;
  message?: string;
  results?: Record<string, Result>;
}

/** A ReloadResult as the socket serializes it. */
export interface Result {
  unit: string;
  status: string;
  generation: number;
  trigger: string;
  config_hash: string;
  changed: string[];
  load_error?: string;
  error?: string;
  duration_ms: number;
}

/** `reload [unit]` over the admin socket; the reply, with the time it took. */
export async function reloadOver(h: DaemonHandle, unit = ''): Promise<{ reply: Reply; ms: number }> {
  const t0 = performance.now();
  const text = await h.send(unit === '' ? 'reload' : `reload ${unit}`);
  return { reply: JSON.parse(text) as Reply, ms: performance.now() - t0 };
}

// ---- memory ----------------------------------------------------------------

export interface Memory {
  /** Resident set now, in KiB. */
  rssKb: number;
  /** Peak resident set since the process started (VmHWM), in KiB. */
  hwmKb: number;
}

/** VmRSS and VmHWM of a live process, from /proc/PID/status. */
export function memoryOf(pid: number): Memory {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!m) throw new Error(`/proc/${pid}/status has no ${key}`);
    return Number(m[1]);
  };
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

export const MiB = 1024;

/**
 * Runs `fn` and returns how far the process's resident set peaked above
 * where it was when `fn` started (KiB). The peak (VmHWM) is reset first
 * through /proc/PID/clear_refs (root, or the process's owner), so the
 * reading is this step's own peak, not start-up's.
 */
export async function peakGrowth<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; peakKb: number; before: Memory; after: Memory }> {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const before = memoryOf(pid);
  const value = await fn();
  const after = memoryOf(pid);
  return { value, peakKb: after.hwmKb - before.rssKb, before, after };
}

// ---- tmpfs -----------------------------------------------------------------

/**
 * Mounts a tmpfs of `sizeKiB` at a fresh directory (root only), unmounted at
 * cleanup; null when this machine cannot mount (not root, or a container
 * without CAP_SYS_ADMIN) or RELOADKIT_FAULTS_NO_MOUNT=1.
 */
export function mountTmpfs(sizeKiB: number, mode = '0755'): string | null {
  // RELOADKIT_FAULTS_NO_MOUNT=1 runs the fallbacks that machines without mount use.
  if (!isRoot || process.env.RELOADKIT_FAULTS_NO_MOUNT === '1') return null;
  const dir = tempDir('rk-fault-mnt-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=${mode}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch {
    return null;
  }
  mounts.push(dir);
  return dir;
}

// ---- processes -------------------------------------------------------------

/** A pid read from a file some child wrote, once the file is complete. */
export async function readPidFile(path: string, what: string): Promise<number> {
  return waitFor(() => {
    try {
      const text = readFileSync(path, 'utf8');
      const pid = Number(text.trim());
      return text.endsWith('\n') && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }, what);
}

export { isRunning, waitFor };
