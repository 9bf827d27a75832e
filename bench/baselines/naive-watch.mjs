// Baseline for bench/suites/e2e.ts: the naive watcher, as found in many
// projects: fs.watch on the config file, and `nginx -t && nginx -s reload`
// on every event.
//
// usage: node naive-watch.mjs FILE [nginx options, e.g. -p PREFIX/ -c CONF]
import { exec } from 'node:child_process';
import { watch } from 'node:fs';

const [file, ...nginxArgs] = process.argv.slice(2);
const nginx = ['nginx', ...nginxArgs].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
watch(file, () => {
  exec(`${nginx} -t && ${nginx} -s reload`, (err) => {
    if (err) process.stderr.write(`reload failed: ${err.message}\n`);
  });
});
process.stdout.write('watching\n');
