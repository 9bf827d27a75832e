// Helpers for integration tests: a real nginx in a temp prefix on a free
// loopback port, free ports, HTTP GETs, and (re-exported for the many tests
// that import it from here) the suite's one polling helper.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childrenOf, isRunning } from '../../src/daemon/targets/proc.js';
import { waitFor } from '../helpers/wait.js';

export { waitFor };

/** A port that was free a moment ago (bind port 0, read it, release it). */
/** Ports this process already handed out: the kernel may give a just-closed port again at once. */
const handedOut = new Set<number>();

/** A loopback port that was free a moment ago, never one this process handed out before (two calls in a row could get the same one). */
export async function freePort(): Promise<number> {
  for (;;) {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export function httpGet(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('GET timed out')));
    req.on('error', reject);
  });
}

/**
 * Whether nginx can be used. Under CI=true a missing nginx is an error
 * (tests fail, never skip); elsewhere tests skip with a loud message.
 */
export function nginxOrSkip(): string | false {
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  if (r.error === undefined && r.status === 0) return false;
  const msg = 'nginx is not installed: the real-nginx integration tests need it (apt-get install nginx)';
  if (process.env.CI === 'true') throw new Error(msg);
  process.stderr.write(`\n!!! SKIPPING: ${msg}\n\n`);
  return msg;
}

export interface TestNginx {
  prefix: string;
  conf: string;
  port: number;
  pidfile: string;
  errorLog: string;
  master(): number | null;
  /** Writes nginx.conf (or `path`) with `body` served at `/` (and optional extra server blocks). */
  writeConfig(body: string, extra?: string, path?: string): void;
  stop(): Promise<void>;
}

const isRoot = process.getuid?.() === 0;

/** Starts nginx in a temp prefix (`-p`), serving `body` on a free loopback port. */
export async function startTestNginx(body: string): Promise<TestNginx> {
  const prefix = mkdtempSync(join(tmpdir(), 'rk-nginx-'));
  mkdirSync(join(prefix, 'tmp'));
  const conf = join(prefix, 'nginx.conf');
  const pidfile = join(prefix, 'nginx.pid');
  const errorLog = join(prefix, 'error.log');
  const port = await freePort();
  const writeConfig = (text: string, extra = '', path = conf) => {
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${prefix}/tmp/${k};`).join('\n');
    writeFileSync(
      path,
      `# reloadkit integration test
${isRoot ? 'user root;\n' : ''}worker_processes 1;
pid ${pidfile};
error_log ${errorLog} notice;
events { worker_connections 64; }
http {
    access_log off;
${temp}
    server {
        listen 127.0.0.1:${port};
        location / { default_type text/plain; return 200 "${text}"; }
    }
${extra}
}
`,
    );
  };
  writeConfig(body);
  // -e: nginx >= 1.19.5 opens this error log before reading the config (not the compiled default).
  execFileSync('nginx', ['-p', `${prefix}/`, '-c', conf, '-e', errorLog], { stdio: 'pipe' });
  const readMaster = () => {
    try {
      const pid = Number(readFileSync(pidfile, 'utf8').trim());
      return pid > 0 ? pid : null;
    } catch {
      return null;
    }
  };
  await waitFor(() => readMaster() !== null && childrenOf(readMaster()!).length > 0, 'nginx master and worker');
  return {
    prefix,
    conf,
    port,
    pidfile,
    errorLog,
    master: readMaster,
    writeConfig,
    async stop() {
      const master = readMaster();
      if (master !== null && isRunning(master)) {
        const kids = childrenOf(master);
        try {
          process.kill(master, 'SIGKILL');
        } catch {
          // gone
        }
        for (const k of kids) {
          try {
            process.kill(k, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await waitFor(() => !isRunning(master) && kids.every((k) => !isRunning(k)), 'nginx to exit', 10_000).catch(() => {});
      }
      if (existsSync(prefix)) rmSync(prefix, { recursive: true, force: true });
    },
  };
}
