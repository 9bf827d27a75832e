// The Node.js versions reloadkit supports, said the same way in package.json
// (`engines`), the README's support section and the CommonJS note of
// docs/library.md: `require('reloadkit')` needs a Node that loads an ES
// module with require() without a flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const read = (path: string) => readFile(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');
const pkg = JSON.parse(await read('package.json')) as { engines: { node: string } };

test("the README's support section quotes package.json's engines", async () => {
  const readme = await read('README.md');
  assert.match(readme, /^`engines` is `([^`]+)`/m);
  assert.equal(/^`engines` is `([^`]+)`/m.exec(readme)![1], pkg.engines.node);
});

test('every lower bound of engines is named where the docs say which Node.js can require() reloadkit', async () => {
  const floors = [...pkg.engines.node.matchAll(/(?:\^|>=)(\d+\.\d+)\.0/g)].map((m) => m[1]!);
  assert.ok(floors.length > 0, `no lower bound in ${pkg.engines.node}`);
  const library = await read('docs/library.md');
  const note = library.slice(library.indexOf("require('reloadkit')"), library.indexOf('`import` does'));
  for (const floor of floors) assert.ok(note.includes(`${floor}+`), `docs/library.md's CommonJS note names ${floor}+`);
});
