// What a target watches. With `watch:`, the paths listed (directories
// recursively). An nginx target without `watch:` watches the files nginx
// reads instead (targets/nginx-files.ts), derived again at every load: the
// main file, its includes, certificates and keys, and each include glob's
// directory filtered by the glob. When a load finds a different set (an
// include added or removed, a file matching a glob appeared), the watchers
// follow. Files nginx reads that are not watched are warned about, once each.
import { join, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { errorMessage } from '../shared/errors.js';
import { SIGNATURE_SUFFIX } from '../integrity/signature.js';
import type { Logger, WatchSpec } from '../shared/types.js';
import type { NginxTargetDef, TargetDef } from './config.js';
import { watchSpecsFor, type TargetContent, type WatchPaths } from './target-source.js';
import { mainConfigPath } from './targets/nginx.js';
import { nginxFileSet, type NginxFileSet } from './targets/nginx-files.js';

/** The fields of a definition that decide what is watched. */
export function watchKey(def: TargetDef): string {
  return JSON.stringify(def.kind === 'nginx' ? [def.watch, def.derive_watch, def.config, def.prefix, def.binary] : [def.watch]);
}

const derives = (def: TargetDef): def is NginxTargetDef => def.kind === 'nginx' && def.derive_watch;

interface Derived {
  key: string;
  /** null: the main config could not be located; `fallback` is watched as a directory. */
  set: NginxFileSet | null;
  fallback?: string;
}

export class TargetWatch {
  private derived: Derived | null = null;
  private readonly warned = new Set<string>();

  constructor(
    private readonly name: string,
    private readonly logger: Logger,
    /** The derived set changed after the first load: the watchers should follow. */
    private readonly onChange: () => void,
  ) {}

  /** The definition changed what is watched: derive again at the next load. */
  reset(): void {
    this.derived = null;
  }

  /** The paths whose content is the target's config at this load (derived again for nginx without `watch:`). */
  async paths(def: TargetDef, signal?: AbortSignal): Promise<readonly string[] | WatchPaths> {
    if (!derives(def)) return def.watch;
    const d = await this.derive(def, signal);
    // The config files were read to follow their includes: their hashes come along.
    return d.set ? { paths: d.set.files, known: d.set.read } : [d.fallback!];
  }

  /** The watch specs for the current definition (and, when derived, the set of the last load). */
  async specs(def: TargetDef, signed: boolean): Promise<WatchSpec[]> {
    if (!derives(def)) return watchSpecsFor(def.watch, { signatures: signed });
    const d = this.derived ?? (await this.derive(def));
    if (!d.set) return watchSpecsFor([d.fallback!], { signatures: signed });
    const globs = d.set.globs;
    // A file a glob matches is seen through the glob's directory; the others one by one.
    const single = d.set.files.filter((f) => !globs.some((g) => g.match.test(f)));
    const specs: WatchSpec[] = [];
    for (const f of single) specs.push({ path: f }, ...(signed ? [{ path: f + SIGNATURE_SUFFIX }] : []));
    for (const g of globs) {
      const matches = (full: string) =>
        g.match.test(full) || (signed && full.endsWith(SIGNATURE_SUFFIX) && g.match.test(full.slice(0, -SIGNATURE_SUFFIX.length)));
      specs.push({ path: g.dir, recursive: g.recursive, filter: (rel) => matches(join(g.dir, rel)) });
    }
    return specs;
  }

  private async derive(def: NginxTargetDef, signal?: AbortSignal): Promise<Derived> {
    let next: Derived;
    try {
      const main = await mainConfigPath(def, {
        name: this.name,
        signal: signal ?? new AbortController().signal,
        timeoutMs: def.timeout_ms,
        logger: this.logger,
      });
      const set = await nginxFileSet(main, signal);
      next = { key: JSON.stringify([set.files, set.globs.map((g) => g.pattern)]), set };
    } catch (err) {
      signal?.throwIfAborted();
      // Without `nginx -V` (nginx not installed yet) there is no main file to start from: the old default, a directory.
      const fallback = def.prefix ?? '/etc/nginx';
      this.warnOnce(
        `fallback:${fallback}`,
        { err: errorMessage(err), watching: fallback },
        "cannot locate nginx's main config (set config:); watching the whole directory until it can be located",
      );
      next = { key: JSON.stringify(['fallback', fallback]), set: null, fallback };
    }
    const before = this.derived;
    this.derived = next;
    if (before !== null && before.key !== next.key) {
      this.logger.info(
        { unit: this.name, files: next.set?.files.length ?? 0, include_globs: next.set?.globs.map((g) => g.pattern) ?? [] },
        'the files nginx reads changed; watching the new set',
      );
      this.onChange();
    }
    return next;
  }

  private warnOnce(key: string, fields: Record<string, unknown>, msg: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.logger.warn({ unit: this.name, ...fields }, msg);
  }

  /** After a successful check: files nginx read (its `nginx -T` list) that the target's content does not cover. */
  checkRead(def: TargetDef, read: readonly string[], content: TargetContent): void {
    for (const listed of read) {
      // nginx prints an include as it joined it (`/etc/nginx/../x.conf`); the set holds normalized paths.
      const file = resolve(listed);
      if (Object.hasOwn(content.files, file)) continue;
      this.warnOnce(
        `read:${file}`,
        { file },
        derives(def)
          ? 'nginx reads a file its include directives did not lead to; it is not watched'
          : 'nginx reads a file outside watch:; edits to it will not start a reload (remove watch: to watch what nginx reads)',
      );
    }
  }

  /**
   * With an explicit `watch:` (nginx): the files of the config and the
   * directories of its include globs that `watch:` leaves out, warned about
   * at start. New files in an unwatched glob directory are never seen.
   */
  async warnOutside(def: TargetDef, content: TargetContent, signal: AbortSignal): Promise<void> {
    if (def.kind !== 'nginx' || def.derive_watch) return;
    let set: NginxFileSet;
    try {
      set = await nginxFileSet(await mainConfigPath(def, { name: this.name, signal, timeoutMs: def.timeout_ms, logger: this.logger }), signal);
    } catch {
      return; // nothing to compare with (nginx not installed yet); the check reports nginx itself
    }
    const dirs: string[] = [];
    for (const p of def.watch) if ((await stat(p).catch(() => null))?.isDirectory()) dirs.push(p);
    const under = (path: string) => dirs.some((d) => path === d || path.startsWith(d.endsWith('/') ? d : `${d}/`));
    this.checkRead(def, set.files, content);
    for (const g of set.globs) {
      if (under(g.dir)) continue;
      this.warnOnce(
        `glob:${g.pattern}`,
        { include: g.pattern, dir: g.dir },
        'an include glob of the nginx config is in a directory outside watch:; new files matching it will not start a reload',
      );
    }
  }
}
