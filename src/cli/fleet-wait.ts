// `reloadkit fleet push|rollback --wait`: follows the rollout through etcd
// watches (the rollout record, the target's turns, the hosts) and prints it
// host by host as it goes: plain lines when stdout is not a terminal, and
// on a terminal the same lines plus a progress line kept at the bottom.
import type { EtcdStore, WatchHandle } from '../etcd/client.js';
import { hostsPrefix, targetPrefix, turnsPrefix } from '../fleet/keys.js';
import type { RolloutState } from '../fleet/records.js';
import { KvCache, rolloutView, type RolloutView } from '../fleet/rollout.js';
import { fleetStatusFrom, rolloutStatus, type RolloutStatus } from '../fleet/status.js';
import { EXIT } from './common.js';

interface ProgressOptions {
  write(text: string): void;
  /** A terminal: keep a progress line at the bottom, rewritten in place. */
  tty: boolean;
}

/** Prints a rollout's progress: one line per host as it starts and ends, one per state change of the rollout. */
export class RolloutProgress {
  private readonly seen = new Map<string, string>();
  private state: RolloutState | null = null;
  private barShown = false;

  constructor(private readonly o: ProgressOptions) {}

  update(st: RolloutStatus, v: RolloutView): void {
    const lines: string[] = [];
    for (const [host, s] of Object.entries(st.hosts)) {
      if (this.seen.get(host) === s) continue;
      this.seen.set(host, s);
      if (s === 'pending') continue;
      const turn = v.turns.get(host)?.value;
      const role = turn?.canary ? ' (canary)' : turn && turn.batch > 0 && s === 'applying' ? ` (batch ${turn.batch})` : '';
      let detail = '';
      if (s === 'failed') detail = `: ${turn?.step ?? 'apply'}: ${turn?.reason ?? ''}`;
      else if (s === 'lost') detail = `: ${turn?.reason ?? 'gone'}`;
      else if (s === 'done' && turn?.skipped) detail = ' (already on it)';
      lines.push(`${host}: ${s}${role}${detail}`);
    }
    if (st.state !== this.state) {
      if (this.state !== null || st.state !== 'running') lines.push(`rollout ${st.id}: ${st.state}${st.reason ? ` (${st.reason})` : ''}`);
      this.state = st.state;
    }
    const done = st.state === 'done' || st.state === 'halted' || st.state === 'aborted';
    if (this.o.tty) {
      let text = this.barShown ? '\r\x1b[2K' : '';
      for (const l of lines) text += `${l}\n`;
      this.barShown = !done;
      if (!done) text += this.bar(st);
      if (text !== '') this.o.write(text);
    } else if (lines.length > 0) {
      this.o.write(`${lines.join('\n')}\n`);
    }
  }

  private bar(st: RolloutStatus): string {
    const c = st.counts;
    const total = Object.values(c).reduce((a, b) => a + b, 0);
    const finished = c.done + c.failed + c.lost;
    const width = 20;
    const filled = total === 0 ? 0 : Math.round((finished / total) * width);
    const applying = Object.entries(st.hosts)
      .filter(([, s]) => s === 'applying')
      .map(([h]) => h);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${finished}/${total} ${st.state}${applying.length > 0 ? `, applying ${applying.join(' ')}` : ''}`;
  }
}

/**
 * Follows rollout `id` of `target` until it ends: exit 0 when done, 1 when
 * halted or aborted (or another rollout replaced it, or `timeoutMs`
 * passed). Prints with `write`; with `json`, only the final status.
 */
export async function followRollout(
  store: EtcdStore,
  fleet: string,
  target: string,
  id: string,
  o: { timeoutMs: number; json: boolean; tty: boolean; write(text: string): void; warn(text: string): void },
): Promise<number> {
  const cache = new KvCache();
  const prefixes = [hostsPrefix(fleet), targetPrefix(fleet, target), turnsPrefix(fleet, target)];
  let wake: (() => void) | null = null;
  const watches: WatchHandle[] = [];
  const progress = new RolloutProgress({ write: (t) => (o.json ? undefined : o.write(t)), tty: o.tty });
  const deadline = Date.now() + o.timeoutMs;
  let warnedIdle = false;
  const startedAt = Date.now();
  try {
    for (const p of prefixes) {
      watches.push(
        await store.watchPrefix(
          p,
          (e) => {
            if (cache.apply(e.key, e.type === 'put' ? e.value : null, e.modRevision)) wake?.();
          },
          () => {},
        ),
      );
    }
    const reread = async () => {
      for (const p of prefixes) {
        const r = await store.rangePrefix(p);
        cache.applyRange(p, r.kvs, r.revision);
      }
    };
    await reread();
    let lastRead = Date.now();
    for (;;) {
      const v = rolloutView(cache, fleet, target);
      const r = v.rollout?.value;
      if (r && r.id !== id) {
        o.warn(`reloadkit: another rollout (${r.id}) replaced rollout ${id}`);
        return EXIT.FAIL;
      }
      if (r) {
        const st = rolloutStatus(v, r);
        progress.update(st, v);
        if (st.state === 'done' || st.state === 'halted' || st.state === 'aborted') {
          if (o.json) o.write(`${JSON.stringify(fleetStatusFrom(cache, fleet, target))}\n`);
          return st.state === 'done' ? EXIT.OK : EXIT.FAIL;
        }
        if (!warnedIdle && v.driver === null && v.hosts.size === 0 && Date.now() - startedAt > 3000) {
          warnedIdle = true;
          o.warn(`reloadkit: no live host manages ${target} in fleet ${fleet}; the rollout starts when one does`);
        }
      }
      if (Date.now() > deadline) {
        o.warn(`reloadkit: rollout ${id} not finished after ${Math.round(o.timeoutMs / 1000)} s`);
        return EXIT.FAIL;
      }
      // Woken by a watch event; a re-read every few seconds covers a watch that was down.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
      if (Date.now() - lastRead > 5000) {
        lastRead = Date.now();
        await reread().catch(() => {});
      }
    }
  } finally {
    await Promise.all(watches.map((w) => w.close()));
  }
}
