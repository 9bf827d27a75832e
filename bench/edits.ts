// The edit scripts every change-detection benchmark replays, the same
// syscalls for every contender: how editors, tools and Kubernetes actually
// change a config file.
import { closeSync, copyFileSync, mkdirSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** open(O_TRUNC) + write + close: `echo > file`, most tools, vim with backupcopy=yes minus the backup. */
export function inPlaceWrite(file: string, text: string): void {
  writeFileSync(file, text);
}

/**
 * A slow writer: truncate, then the text in `chunks` writes `spacingMs`
 * apart, then close (a template renderer flushing as it goes, a copy over a
 * slow disk). Until the close, the file holds a prefix of the new text.
 */
export async function chunkedWrite(file: string, text: string, chunks: number, spacingMs: number): Promise<void> {
  const fd = openSync(file, 'w');
  try {
    const size = Math.ceil(text.length / chunks);
    for (let i = 0; i < chunks; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, spacingMs));
      writeSync(fd, text.slice(i * size, (i + 1) * size));
    }
  } finally {
    closeSync(fd);
  }
}

/** Write a temp file next to it, rename it over (editors' "atomic save", `sed -i`, config management). */
export function atomicSave(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** vim's write-permission probe in the file's directory. */
function vimProbe(file: string): void {
  const probe = join(dirname(file), '4913');
  writeFileSync(probe, '');
  rmSync(probe);
}

/** vim `backupcopy=no`: probe, rename the file to `file~`, write a new file, remove the backup. */
export function vimBackupcopyNo(file: string, text: string): void {
  vimProbe(file);
  renameSync(file, `${file}~`);
  writeFileSync(file, text);
  rmSync(`${file}~`);
}

/** vim `backupcopy=yes`: probe, copy the file to `file~`, overwrite the file in place, remove the backup. */
export function vimBackupcopyYes(file: string, text: string): void {
  vimProbe(file);
  copyFileSync(file, `${file}~`);
  writeFileSync(file, text);
  rmSync(`${file}~`);
}

/**
 * A Kubernetes ConfigMap volume as the kubelet's atomic writer keeps it:
 * `dir/NAME -> ..data/NAME`, `..data -> ..<timestamp>`; an update writes a
 * new timestamped directory, points `..data_tmp` at it, renames `..data_tmp`
 * over `..data`, and removes the old directory.
 */
export class ConfigMapVolume {
  readonly file: string;
  private serial = 0;
  private current: string;

  constructor(
    readonly dir: string,
    name: string,
    text: string,
  ) {
    this.file = join(dir, name);
    this.current = this.writeVersion(text);
    symlinkSync(this.current, join(dir, '..data'));
    symlinkSync(`..data/${name}`, this.file);
  }

  private writeVersion(text: string): string {
    this.serial += 1;
    const ts = `..2026_11_22_10_${String(this.serial % 60).padStart(2, '0')}_00.${100000 + this.serial}`;
    mkdirSync(join(this.dir, ts));
    writeFileSync(join(this.dir, ts, basename(this.file)), text);
    return ts;
  }

  update(text: string): void {
    const next = this.writeVersion(text);
    symlinkSync(next, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    rmSync(join(this.dir, this.current), { recursive: true, force: true });
    this.current = next;
  }
}
