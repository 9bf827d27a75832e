// The `nginx` kind. Check: `nginx -T` (same test as `-t`, plus the config
// dump, from which we learn the pidfile and error log). Apply: record the
// master's workers, signal the reload (SIGHUP to the master, which is all
// `nginx -s reload` does), then VERIFY that new workers appeared under the
// same master. The signal "succeeds" even when the master then rejects the
// config (a port it cannot bind), so without this step a failed reload would
// be reported as success; on failure the new error-log lines say why.
import { open, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { NginxTargetDef } from '../config.js';
import { runChild, type RunResult } from './child.js';
import { remaining, type TargetDriver, type TargetStep } from './driver.js';
import { sleep } from '../../shared/abort.js';
import { childrenOf, hasProcfs, isRunning, processIdentity } from './proc.js';
import { readPid } from './signal.js';
import { errorMessage } from '../../shared/errors.js';

/** Where this nginx keeps its pid and error log, as the running config says. */
export interface NginxPaths {
  pidfile: string;
  /** Files the main-context `error_log` directives write to (stderr/syslog excluded). */
  errorLogs: string[];
}

/** Compiled-in defaults from `nginx -V`. */
export interface NginxBuildInfo {
  prefix: string;
  pidPath: string;
  errorLogPath: string;
  /** The main config nginx reads without -c (relative: under the prefix). */
  confPath: string;
}

/** Splits nginx config text into tokens: words, quoted strings, `{`, `}`, `;`. Comments dropped. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '#') {
      while (i < n && text[i] !== '\n') i += 1;
    } else if (c === '{' || c === '}' || c === ';') {
      out.push(c);
      i += 1;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < n && text[j] !== c) {
        if (text[j] === '\\' && j + 1 < n) j += 1;
        s += text[j];
        j += 1;
      }
      out.push(s);
      i = j + 1;
    } else if (/\s/.test(c)) {
      i += 1;
    } else {
      let j = i;
      while (j < n && !/[\s{};"']/.test(text[j]!)) j += 1;
      out.push(text.slice(i, j));
      i = j;
    }
  }
  return out;
}

/** The files of an `nginx -T` dump, in the order nginx read them (the first is the main config). */
function dumpFiles(dump: string): { path: string; text: string }[] {
  // `nginx -T` prints each file after "# configuration file <path>:".
  const marker = /^# configuration file (.+):$/gm;
  const heads: { path: string; at: number; body: number }[] = [];
  for (let m = marker.exec(dump); m !== null; m = marker.exec(dump)) heads.push({ path: m[1]!, at: m.index, body: m.index + m[0].length });
  if (heads.length === 0) return [{ path: '', text: dump }];
  return heads.map((h, k) => ({ path: h.path, text: dump.slice(h.body, heads[k + 1]?.at ?? dump.length) }));
}

/** The paths of the files an `nginx -T` dump lists: every file nginx read (up to the captured size). */
function dumpFilePaths(dump: string): string[] {
  return dumpFiles(dump)
    .map((f) => f.path)
    .filter((p) => p !== '');
}

/**
 * A glob(3) pattern as nginx's `include` expands it: `*`, `?`, `[...]`, never
 * across `/`, and (as glob(3) does) never matching a leading `.` of a name
 * unless the pattern spells it.
 */
export function globRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i]!;
    const close = c === '[' ? pattern.indexOf(']', i + 2) : -1;
    const nameStart = i === 0 || pattern[i - 1] === '/';
    if (nameStart && (c === '*' || c === '?' || close > 0)) re += '(?!\\.)';
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (close > 0) {
      const body = pattern.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      re += `[${negate ? '^/' : ''}${(negate ? body.slice(1) : body).replace(/\\/g, '\\\\')}]`;
      i = close;
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Main-context directives of an `nginx -T` dump: `pid` and `error_log` at the
 * top level of the main config and of every file it includes at the top
 * level (a Debian-style `include /etc/nginx/modules-enabled/*.conf;` or a
 * `pid` kept in an included file). Nested blocks are skipped. Relative
 * include paths are under the main config's directory, as nginx reads them.
 */
export function mainDirectives(dump: string): { pid?: string; errorLogs: string[] } {
  const files = dumpFiles(dump);
  const confDir = files[0]!.path === '' ? '/' : dirname(files[0]!.path);
  let pid: string | undefined;
  const errorLogs: string[] = [];
  const seen = new Set<string>();
  const scan = (file: { path: string; text: string }) => {
    if (seen.has(file.path)) return;
    seen.add(file.path);
    let depth = 0;
    let stmt: string[] = [];
    for (const t of tokenize(file.text)) {
      if (t === '{') {
        depth += 1;
        stmt = [];
      } else if (t === '}') {
        depth = Math.max(0, depth - 1);
        stmt = [];
      } else if (t === ';') {
        const arg = stmt[1];
        if (depth === 0 && arg !== undefined) {
          if (stmt[0] === 'pid') pid = arg;
          else if (stmt[0] === 'error_log') errorLogs.push(arg);
          else if (stmt[0] === 'include') {
            const pattern = isAbsolute(arg) ? arg : resolve(confDir, arg);
            const match = /[*?[]/.test(pattern) ? globRegExp(pattern) : null;
            for (const f of files) if (match ? match.test(f.path) : f.path === pattern) scan(f);
          }
        }
        stmt = [];
      } else {
        stmt.push(t);
      }
    }
  };
  scan(files[0]!);
  return { ...(pid === undefined ? {} : { pid }), errorLogs };
}

/** Parses `nginx -V` output (it prints to stderr). */
export function parseBuildInfo(text: string): NginxBuildInfo {
  const opt = (name: string) => new RegExp(`--${name}=(\\S+)`).exec(text)?.[1];
  const prefix = opt('prefix') ?? '/usr/local/nginx';
  return {
    prefix: prefix.endsWith('/') ? prefix : `${prefix}/`,
    pidPath: opt('pid-path') ?? 'logs/nginx.pid',
    errorLogPath: opt('error-log-path') ?? 'logs/error.log',
    confPath: opt('conf-path') ?? 'conf/nginx.conf',
  };
}

const buildInfoCache = new Map<string, Promise<NginxBuildInfo>>();

function buildInfo(binary: string, step: TargetStep): Promise<NginxBuildInfo> {
  let p = buildInfoCache.get(binary);
  if (!p) {
    p = runChild([binary, '-V'], { timeoutMs: step.timeoutMs, signal: step.signal }).then((r) => parseBuildInfo(`${r.stderr}\n${r.stdout}`));
    buildInfoCache.set(binary, p);
    p.catch(() => buildInfoCache.delete(binary));
  }
  return p;
}

/** The main config file nginx reads for this target: `config`, else the compiled-in path (`nginx -V`) under the prefix. */
export async function mainConfigPath(def: Pick<NginxTargetDef, 'binary' | 'config' | 'prefix'>, step: TargetStep): Promise<string> {
  if (def.config !== undefined) return def.config;
  const build = await buildInfo(def.binary, step);
  return isAbsolute(build.confPath) ? build.confPath : resolve(def.prefix ?? build.prefix, build.confPath);
}

/** Resolves the pidfile and error logs from a dump and the build defaults; relative paths are under the prefix. */
export function resolvePaths(dump: string, build: NginxBuildInfo, prefixFlag: string | undefined): NginxPaths {
  const prefix = prefixFlag ?? build.prefix;
  const under = (p: string) => (isAbsolute(p) ? p : resolve(prefix, p));
  const d = mainDirectives(dump);
  const logs = d.errorLogs.length > 0 ? d.errorLogs : [build.errorLogPath];
  return {
    pidfile: under(d.pid ?? build.pidPath),
    errorLogs: logs.filter((l) => l !== 'stderr' && !l.startsWith('syslog:') && !l.startsWith('memory:')).map(under),
  };
}

/**
 * The running master from the pidfile: it must exist and be an nginx master
 * process (a stale pidfile whose pid now belongs to something else is never
 * signalled).
 */
async function findMaster(pidfile: string): Promise<number> {
  const read = await readPid(pidfile);
  if ('problem' in read) {
    // nginx removes its pidfile when it exits, and `nginx -t` (our check) then creates it empty.
    const start = 'reloadkit reloads a running nginx; start it first';
    if (read.problem === 'missing') throw new Error(`nginx is not running: no pidfile at ${pidfile} (${start})`);
    if (read.problem === 'empty') throw new Error(`nginx is not running: its pidfile ${pidfile} is empty (${start})`);
    throw new Error(`cannot tell whether nginx is running: ${read.message}`);
  }
  const pid = read.pid;
  if (!isRunning(pid)) throw new Error(`nginx is not running: stale pidfile ${pidfile} (no process with pid ${pid})`);
  if (hasProcfs) {
    // Vanished (null): the reload below reports it.
    const title = processIdentity(pid)?.cmdline ?? '';
    if (!/^nginx: master process\b/.test(title)) {
      throw new Error(`pid ${pid} from ${pidfile} is not an nginx master process (${JSON.stringify(title.slice(0, 80))}); not signalling it`);
    }
  }
  return pid;
}

/**
 * Error-log lines with the same message (timestamp and pid aside) shown once,
 * with how often it came: the master retries bind() five times, each with its
 * own line.
 */
function collapseRepeats(lines: readonly string[]): string[] {
  const message = (l: string) => l.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: /, '$1 ');
  const out: { line: string; key: string; count: number }[] = [];
  const byKey = new Map<string, { count: number }>();
  for (const line of lines) {
    const key = message(line);
    const seen = byKey.get(key);
    if (seen) seen.count += 1;
    else {
      const entry = { line, key, count: 1 };
      byKey.set(key, entry);
      out.push(entry);
    }
  }
  return out.map((e) => (e.count > 1 ? `${e.line} (${e.count} times)` : e.line));
}

/** Error-log lines at these levels stop the wait at once: the master gave up on the new config. */
function definitiveFailure(line: string): boolean {
  if (!/\[(emerg|alert)\]/.test(line)) return false;
  // bind() is retried by the master for ~2.5 s; only "still could not bind()" is final.
  return !/bind\(\) to .* failed/.test(line);
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** The lines appended to `path` since `offset` (the tail, when there are many). */
async function newLines(path: string, offset: number, cap = 16 * 1024): Promise<string[]> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return [];
  }
  try {
    const { size } = await fh.stat();
    const from = size < offset ? 0 : offset; // truncated or rotated: read the new file from its start
    const start = Math.max(from, size - cap);
    const buf = Buffer.alloc(size - start);
    if (buf.length > 0) await fh.read(buf, 0, buf.length, start);
    return buf
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  } finally {
    await fh.close();
  }
}

export interface NginxVerifyTiming {
  reload_ms: number;
  verify_ms: number;
}

export function nginxDriver(def: Pick<NginxTargetDef, 'binary' | 'config' | 'prefix'>): TargetDriver & { lastTiming: NginxVerifyTiming | null } {
  const base = [def.binary, ...(def.prefix ? ['-p', def.prefix.endsWith('/') ? def.prefix : `${def.prefix}/`] : []), ...(def.config ? ['-c', def.config] : [])];
  // The dump of the last successful check, so apply knows the pidfile without another run.
  let checked: RunResult | null = null;
  let read: string[] | null = null;

  const test = async (step: TargetStep): Promise<RunResult> => {
    const r = await runChild([...base, '-T'], { timeoutMs: step.timeoutMs, signal: step.signal, stdoutHead: true });
    checked = r;
    return r;
  };

  const driver = {
    hasCheck: true,
    lastTiming: null as NginxVerifyTiming | null,
    async check(step: TargetStep) {
      checked = null;
      read = null;
      read = dumpFilePaths((await test(step)).stdout);
    },
    readFiles: () => read,
    async apply(step: TargetStep) {
      const deadline = performance.now() + step.timeoutMs;
      const dump = checked ?? (await test(step));
      checked = null;
      const paths = resolvePaths(dump.stdout, await buildInfo(def.binary, step), def.prefix);

      // Before the reload: the master, its current workers, where the error logs end.
      const master = await findMaster(paths.pidfile);
      const before = new Set(childrenOf(master));
      const offsets = await Promise.all(paths.errorLogs.map(async (p) => [p, await fileSize(p)] as const));

      // What `nginx -s reload` does, without its second full parse of the
      // config: SIGHUP to the master named by the pidfile (checked above to
      // be an nginx master, which `nginx -s` does not check).
      const t0 = performance.now();
      try {
        process.kill(master, 'SIGHUP');
      } catch (err) {
        throw new Error(`cannot send SIGHUP to the nginx master (pid ${master}): ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, { cause: err });
      }
      const t1 = performance.now();

      const logLines = async () => (await Promise.all(offsets.map(([p, off]) => newLines(p, off)))).flat();
      const explain = async (what: string) => {
        const lines = collapseRepeats((await logLines()).filter((l) => /\[(emerg|alert|crit|error|warn)\]/.test(l)));
        const shownLines = lines.slice(-10).join('\n');
        const where = paths.errorLogs.length > 0 ? paths.errorLogs.join(', ') : 'no error_log file (stderr/syslog)';
        return `${what}; error log (${where}): ${shownLines === '' ? 'no new lines' : shownLines}`;
      };

      let delay = 2;
      let polls = 0;
      for (;;) {
        if (!isRunning(master)) {
          throw new Error(await explain(`nginx master (pid ${master}) exited after the reload`));
        }
        // New workers under the same master: it accepted the new config. (nginx
        // itself lets the old workers accept for ~100 ms more before it tells
        // them to shut down; that hand-over is not waited for.)
        if (childrenOf(master).some((p) => !before.has(p))) break;
        polls += 1;
        // The error log is read every few polls: a master that rejected the config says so there.
        if (polls % 5 === 0 && (await logLines()).some(definitiveFailure)) {
          throw new Error(await explain(`nginx rejected the new config: no new worker processes under master pid ${master}`));
        }
        if (performance.now() >= deadline) {
          throw new Error(await explain(`no new nginx worker processes appeared under master pid ${master} within ${step.timeoutMs} ms of the reload signal`));
        }
        await sleep(Math.min(delay, remaining(deadline)), step.signal);
        delay = Math.min(delay * 2, 10);
      }
      const timing = { reload_ms: Math.round(t1 - t0), verify_ms: Math.round(performance.now() - t1) };
      driver.lastTiming = timing;
      step.logger.debug({ unit: step.name, ...timing, master }, 'nginx reload verified');
    },
  };
  return driver;
}
