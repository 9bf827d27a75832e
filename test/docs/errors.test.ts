// docs/errors.md and the error catalogue (src/shared/errors.ts) say the same
// thing: every code documented once, with the class that carries it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as errors from '../../src/shared/errors.js';
import * as api from '../../src/index.js';

const doc = await readFile(fileURLToPath(new URL('../../docs/errors.md', import.meta.url)), 'utf8');
const rows = [...doc.matchAll(/^\| `(ERR_[A-Z_]+)` \| ([^|]+) \|/gm)].map((m) => ({ code: m[1]!, classes: [...m[2]!.matchAll(/`(\w+)`/g)].map((c) => c[1]!) }));

test('docs/errors.md lists every code of the catalogue, each once, and no other', () => {
  assert.deepEqual(
    rows.map((r) => r.code),
    Object.keys(errors.ERROR_CODES),
  );
});

test('each documented class exists and carries the documented code', () => {
  for (const { code, classes } of rows) {
    assert.ok(classes.length > 0, `${code}: no class documented`);
    for (const name of classes) {
      const Cls = (errors as Record<string, unknown>)[name] as (new (...args: string[]) => Error) | undefined;
      assert.equal(typeof Cls, 'function', `${code}: ${name} is not exported by the catalogue`);
      const instance = new Cls!(...Array.from({ length: Cls!.length }, () => 'x'));
      assert.ok(instance instanceof errors.ReloadkitError, `${name} is a ReloadkitError`);
      if (name !== 'ReloadkitError') assert.equal((instance as errors.ReloadkitError).code, code, `${name}.code`);
      assert.equal(instance.name, name, `${name}.name`);
    }
  }
});

test('the classes a library user can catch are exported by the package, with the code map', () => {
  for (const name of ['ReloadkitError', 'OptionsError', 'LoadError', 'FileNotFoundError', 'SignatureError', 'ShutdownError', 'UnknownUnitError']) {
    assert.equal((api as Record<string, unknown>)[name], (errors as Record<string, unknown>)[name], name);
  }
  assert.equal(api.ERROR_CODES, errors.ERROR_CODES);
});
