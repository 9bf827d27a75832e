// The `banner` target's reload: publishes banner.txt where the service reads
// it (write a temp file, then rename, so the service never sees half of it).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [from = 'banner.txt', dir = '.'] = process.argv.slice(2);
mkdirSync(join(dir, 'public'), { recursive: true });
const tmp = join(dir, 'public', `.banner.${process.pid}.tmp`);
writeFileSync(tmp, readFileSync(from));
renameSync(tmp, join(dir, 'public', 'banner.txt'));
