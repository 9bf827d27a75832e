// The demo's "service": a tiny HTTP server that reads service.json at start
// and again on SIGHUP (like nginx or most daemons do). A broken file is
// reported and the old settings are kept. Serves:
//   GET /        the greeting from service.json
//   GET /banner  the published banner (a file the `banner` target publishes)
// Usage: node service.mjs <dir> <port>
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const [dir = '.', portText = '8080'] = process.argv.slice(2);
const configFile = join(dir, 'service.json');
let settings = { greeting: 'hello', from: 'reloadkit demo' };
let reloads = 0;

function load(why) {
  try {
    const next = JSON.parse(readFileSync(configFile, 'utf8'));
    if (typeof next.greeting !== 'string') throw new Error('"greeting" must be a string');
    settings = next;
    console.log(`[service] ${why}: greeting is now ${JSON.stringify(settings.greeting)}`);
  } catch (err) {
    console.log(`[service] ${why}: keeping the old settings: ${err.message}`);
  }
}

load('start');
process.on('SIGHUP', () => {
  reloads += 1;
  load(`SIGHUP #${reloads}`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

const server = createServer((req, res) => {
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  if (req.url === '/banner') {
    let banner = '(no banner published yet)';
    try {
      banner = readFileSync(join(dir, 'public', 'banner.txt'), 'utf8');
    } catch {
      // Not published yet: the placeholder stays.
    }
    res.end(`${banner.trimEnd()}\n`);
    return;
  }
  res.end(`${settings.greeting}, from ${settings.from ?? 'the demo'} (reloaded ${reloads} times)\n`);
});
server.listen(Number(portText), '127.0.0.1', () => {
  writeFileSync(join(dir, 'service.pid'), `${process.pid}\n`);
});
