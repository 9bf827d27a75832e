// The status page: its files (HTML, stylesheet, script, icon), served from
// the package by the admin HTTP server itself, and the `status` snapshot the
// page renders. Nothing is fetched from anywhere else (no CDN, no web font,
// no inline script), which the Content-Security-Policy enforces.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { ReloadResult } from '../shared/types.js';
import { watchStateOf, type AdminHost, type Readiness, type WatchState } from './host.js';
import { statusReply, type StatusReply, type UnitStatus } from './protocol.js';

/** Sent with every admin HTTP response; the page needs nothing beyond its own origin. */
export const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

/** URL path → file in the page folder, and its type. */
const ASSETS = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/page.css': { file: 'page.css', type: 'text/css; charset=utf-8' },
  '/page.js': { file: 'page.js', type: 'text/javascript; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
} as const;

export type PagePath = keyof typeof ASSETS;
export const PAGE_PATHS = Object.keys(ASSETS) as PagePath[];

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/**
 * Where the page folder is, relative to the module that runs: next to this
 * file in the sources (`src/admin/page/`), and `dist/admin/page/` seen from
 * the bundles (the library's chunks in `dist/lib/`, the CLI's entry
 * `dist/cli.js` or a chunk in `dist/chunks/`). The build copies the folder
 * into dist/.
 */
const CANDIDATE_DIRS = ['./page/', '../admin/page/', './admin/page/'];

export class PageAssets {
  private constructor(
    private readonly assets: ReadonlyMap<string, Asset>,
    /** Why the page cannot be served (files missing from the install), or null. */
    readonly problem: string | null,
  ) {}

  /** Reads the page files once; a missing folder gives a PageAssets that answers 503 with the reason. */
  static async load(baseUrl: string = import.meta.url): Promise<PageAssets> {
    const tried: string[] = [];
    for (const rel of CANDIDATE_DIRS) {
      const dir = new URL(rel, baseUrl);
      tried.push(fileURLToPath(dir));
      try {
        const assets = new Map<string, Asset>();
        for (const [path, a] of Object.entries(ASSETS)) {
          const body = await readFile(new URL(a.file, dir));
          const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
          assets.set(path, { body, type: a.type, etag });
        }
        return new PageAssets(assets, null);
      } catch {
        // Not here; try the next place.
      }
    }
    return new PageAssets(new Map(), `status page files not found (looked in ${tried.join(', ')}); the installation is incomplete`);
  }

  /** Total bytes of the page as a browser loads it (every file, uncompressed). */
  get weight(): number {
    let n = 0;
    for (const a of this.assets.values()) n += a.body.length;
    return n;
  }

  /** Answers GET/HEAD for one page file; revalidation by ETag answers 304. */
  serve(path: PagePath, ifNoneMatch: string | undefined, res: ServerResponse, head: boolean): void {
    const a = this.assets.get(path);
    if (!a) {
      const body = `${this.problem ?? 'not found'}\n`;
      res.writeHead(503, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) });
      res.end(head ? undefined : body);
      return;
    }
    const headers = { ...SECURITY_HEADERS, 'content-type': a.type, 'cache-control': 'no-cache', etag: a.etag };
    if (ifNoneMatch === a.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': String(a.body.length) });
    res.end(head ? undefined : a.body);
  }
}

/**
 * Passes in each snapshot's timeline (most recent across every unit): what
 * the page shows, with some to spare. Snapshots go to every event client,
 * so their size is paid many times over.
 */
const TIMELINE_LENGTH = 20;

interface PageUnitStatus extends UnitStatus {
  watch: WatchState;
}

/** The `status` event: the socket's status, plus what the page shows besides. */
export interface PageStatus extends Omit<StatusReply, 'units'> {
  units: Record<string, PageUnitStatus>;
  ready: Readiness;
  /** Recent passes of every unit, oldest first. */
  timeline: ReloadResult[];
  /** Which buttons the page offers: reload (`http_reload`), and whether it needs a token. */
  actions: { reload: boolean; token: boolean };
  /** The server's clock, so the page can show "3 s ago" right even when the viewer's clock is off. */
  now: string;
}

export function pageStatus(host: AdminHost, actions: PageStatus['actions'], now = Date.now()): PageStatus {
  const base = statusReply(host, now);
  const units: Record<string, PageUnitStatus> = {};
  let timeline: ReloadResult[] = [];
  for (const u of host.units()) {
    units[u.name] = { ...base.units[u.name]!, watch: watchStateOf(host.watchHealth?.(u.name)) };
    const h = u.history?.() ?? [];
    timeline = timeline.concat(h.slice(-TIMELINE_LENGTH));
  }
  timeline.sort((a, b) => (a.ended_at < b.ended_at ? -1 : a.ended_at > b.ended_at ? 1 : 0));
  return {
    ...base,
    units,
    ready: host.ready(),
    timeline: timeline.slice(-TIMELINE_LENGTH),
    actions,
    now: new Date(now).toISOString(),
  };
}
