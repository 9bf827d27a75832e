// A real nginx for the benchmarks: its own prefix in a temp directory, one
// worker, a free loopback port, an error log at `notice` (the master logs
// "signal 1 (SIGHUP) received…, reconfiguring" and then a line that is just
// "reconfiguring" for every reload it performs), and a stop that
// leaves no master or worker behind (its process group is tracked).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { childrenOf } from '../src/daemon/targets/proc.js';
import { freePort } from '../test/integration/helpers.js';
import { stopGroup, trackGroup } from './children.js';
import { until } from './harness.js';

export interface BenchNginx {
  prefix: string;
  conf: string;
  port: number;
  errorLog: string;
  /** `-p PREFIX/ -c CONF`: what every nginx command for this instance needs. */
  args: string[];
  master: number;
  /** Reloads the master performed so far (error log lines ending in ": reconfiguring"). */
  reloads(): number;
  stop(): Promise<void>;
}

/** Why nginx cannot be used here, or null when it can. */
export function nginxMissing(): string | null {
  const r = spawnSync('nginx', ['-v'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0 ? null : 'nginx is not installed (apt-get install nginx)';
}

export interface BenchNginxOptions {
  /** The loopback port (default: a free one). */
  port?: number;
  /** The `http` block after the temp paths (server blocks, includes); the default serves "bench" on `port`. */
  http?: (port: number) => string;
}

/** Starts nginx in `prefix` (a directory of its own: pidfile, error log, temp paths, nginx.conf). */
export async function startBenchNginx(prefix: string, options: BenchNginxOptions = {}): Promise<BenchNginx> {
  mkdirSync(join(prefix, 'tmp'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  const errorLog = join(prefix, 'error.log');
  const pidfile = join(prefix, 'nginx.pid');
  const port = options.port ?? (await freePort());
  const isRoot = process.getuid?.() === 0;
  const body = options.http ? options.http(port) : `    server { listen 127.0.0.1:${port}; location / { return 200 "bench"; } }`;
  writeFileSync(
    conf,
    `${isRoot ? 'user root;\n' : ''}worker_processes 1;
pid ${pidfile};
error_log ${errorLog} notice;
events { worker_connections 256; }
http {
    access_log off;
${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${prefix}/tmp/${k};`).join('\n')}
${body}
}
`,
  );
  const args = ['-p', `${prefix}/`, '-c', conf];
  execFileSync('nginx', [...args, '-e', errorLog], { stdio: 'ignore' });
  const master = await until(() => {
    try {
      const pid = Number(readFileSync(pidfile, 'utf8'));
      return pid > 0 && childrenOf(pid).length > 0 ? pid : null;
    } catch {
      return null;
    }
  }, 'nginx to start');
  // nginx daemonizes with setsid(): the master leads a group with its workers.
  trackGroup(master);
  return {
    prefix,
    conf,
    port,
    errorLog,
    args,
    master,
    reloads: () => readFileSync(errorLog, 'utf8').match(/: reconfiguring$/gm)?.length ?? 0,
    stop: () => stopGroup(master, 'SIGKILL'),
  };
}

/** One GET on a fresh connection (a kept-alive one would stay on an old worker): the body, or null on error. */
export function fetchBody(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}
