// What examples/nginx says about itself holds: its reloadkit.yaml is what
// `run --nginx` uses (as root), except the `config:` it adds.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { nginxZeroConfig, parseConfigText } from '../../src/daemon/config.js';

const file = fileURLToPath(new URL('../../examples/nginx/reloadkit.yaml', import.meta.url));

test('examples/nginx/reloadkit.yaml = the --nginx config (as root) plus config: /etc/nginx/nginx.conf', () => {
  // The example names the root defaults (the socket and state in /run and /var/lib): compare as root sees them.
  const asRoot = process.getuid?.() === 0;
  const example = parseConfigText(readFileSync(file, 'utf8'), file);
  const zero = nginxZeroConfig();
  const { config, ...target } = example.targets.nginx as typeof example.targets.nginx & { config?: string };
  assert.equal(config, '/etc/nginx/nginx.conf');
  assert.deepEqual({ ...target, cwd: '/' }, { ...zero.targets.nginx, cwd: '/' });
  const rest = (c: typeof example) => ({ ...c, targets: {}, ...(asRoot ? {} : { admin: { ...c.admin, socket: '' }, state_dir: '' }) });
  assert.deepEqual(rest(example), rest(zero));
  // And the text says exactly that difference.
  const readme = readFileSync(fileURLToPath(new URL('../../examples/nginx/README.md', import.meta.url)), 'utf8');
  assert.doesNotMatch(readme, /It is the same as\s+`reloadkit run --nginx`/);
  assert.match(readme, /with one difference: it\s+names the main file \(`config: \/etc\/nginx\/nginx\.conf`/);
});
