// What `npm install reloadkit` puts on disk: the bytes of every file under a
// project's node_modules/ (as npm's "unpacked size" counts them: file
// lengths, symlinks not followed) and the packages found there. Shared by
// the pack test (which holds the goal) and the bench (which records it).
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface InstallFootprint {
  bytes: number;
  /** Disk space the files and folders take (allocated blocks, as `du` counts them). */
  diskBytes: number;
  /** Every installed package, nested ones included, e.g. `yaml`, `@scope/x`. */
  packages: string[];
}

export function installFootprint(nodeModules: string): InstallFootprint {
  let bytes = 0;
  let diskBytes = 0;
  const packages: string[] = [];
  const walk = (dir: string): void => {
    diskBytes += lstatSync(dir).blocks * 512;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) {
        const st = lstatSync(full);
        bytes += st.size;
        diskBytes += st.blocks * 512;
      }
    }
  };
  const listPackages = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      if (e.name.startsWith('@')) {
        for (const s of readdirSync(join(dir, e.name), { withFileTypes: true })) {
          if (s.isDirectory()) packages.push(`${e.name}/${s.name}`);
        }
      } else {
        packages.push(e.name);
        const nested = join(dir, e.name, 'node_modules');
        if (readdirSync(join(dir, e.name)).includes('node_modules')) listPackages(nested);
      }
    }
  };
  walk(nodeModules);
  listPackages(nodeModules);
  return { bytes, diskBytes, packages: packages.sort() };
}
