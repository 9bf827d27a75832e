// A stand-in for systemd's notification socket (notify-listener.py, a Unix
// datagram socket that reports each datagram with its sender's credentials
// and closes passed descriptors as systemd does), and the check that the
// tools the service manager tests need are here: python3 for the listener,
// systemd-notify (what the daemon sends with), systemd-socket-activate.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

const script = fileURLToPath(new URL('./notify-listener.py', import.meta.url));

/** One datagram: its `KEY=value` lines, and who sent it (SCM_CREDENTIALS). */
export interface Notification {
  pid: number;
  uid: number;
  fields: Record<string, string>;
  text: string;
  /** process.hrtime.bigint() in µs when the test saw it. */
  seenUsec: bigint;
}

export interface NotifyListener {
  /** NOTIFY_SOCKET for the daemon: the path, or `@name`. */
  address: string;
  /** Every datagram but systemd-notify's own BARRIER=1 ones, in arrival order. */
  readonly messages: Notification[];
  /** Resolves with the first message from index `from` that matches. */
  next(pred: (m: Notification) => boolean, what: string, from?: number, timeoutMs?: number): Promise<Notification>;
  close(): void;
}

/**
 * Whether the service manager tests can run. Under CI=true anything missing
 * fails the test; elsewhere the tests skip with a loud message.
 */
export function serviceManagerToolsOrSkip(): string | false {
  const missing = ['python3', 'systemd-notify', 'systemd-socket-activate'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length === 0) return false;
  const msg = `${missing.join(', ')} not installed: the service manager tests need them (apt-get install python3 systemd)`;
  if (process.env.CI === 'true') throw new Error(msg);
  process.stderr.write(`\n!!! SKIPPING: ${msg}\n\n`);
  return msg;
}

export async function startNotifyListener(address: string): Promise<NotifyListener> {
  const proc: ChildProcess = spawn('python3', [script, address], { stdio: ['ignore', 'pipe', 'pipe'] });
  const messages: Notification[] = [];
  let stderr = '';
  let buf = '';
  let listening!: () => void;
  let failed!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    listening = resolve;
    failed = reject;
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  proc.once('exit', (code) => failed(new Error(`the notify listener exited (${code}): ${stderr}`)));
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === 'listening') {
        listening();
        continue;
      }
      const d = JSON.parse(line) as { pid: number; uid: number; text: string };
      if (d.text === 'BARRIER=1') continue;
      const fields: Record<string, string> = {};
      for (const kv of d.text.split('\n')) {
        const eq = kv.indexOf('=');
        fields[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      messages.push({ pid: d.pid, uid: d.uid, fields, text: d.text, seenUsec: process.hrtime.bigint() / 1000n });
    }
  });
  await ready;
  return {
    address,
    messages,
    next: (pred, what, from = 0, timeoutMs = 30_000) =>
      waitFor(
        () => messages.slice(from).find(pred),
        () => `${what}; got ${JSON.stringify(messages.map((m) => m.text))}`,
        timeoutMs,
      ),
    close: () => void proc.kill(),
  };
}
