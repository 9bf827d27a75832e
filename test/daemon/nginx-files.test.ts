// The files an nginx config consists of, found from the files themselves:
// includes at any depth (relative to the main file's directory), glob
// matches as glob(3) gives them, certificates, loops, and what is left out.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { globRegExp } from '../../src/daemon/targets/nginx.js';
import { nginxFileSet } from '../../src/daemon/targets/nginx-files.js';

const tmp = mkdtempSync(join(tmpdir(), 'rk-nginx-files-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function layout(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmp, 'conf-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return root;
}

describe('nginx file set', () => {
  it('the main file, includes at any depth (relative to its directory), glob matches and certificates; not NOTES.txt, .bak or hidden files', async () => {
    const root = layout({
      'nginx.conf':
        'events {}\nhttp {\n  include mime.types;\n  include conf.d/*.conf; # sites\n  server { ssl_certificate certs/site.pem; ssl_certificate_key /nonexistent/site.key; ssl_certificate $ssl_server_name.pem; }\n}\n',
      'mime.types': 'types { text/html html; }\n',
      'conf.d/api.conf': 'server { location / { include "snippets/*.inc"; } }\n',
      'conf.d/site.conf': 'server { listen 80; }\n',
      'conf.d/NOTES.txt': 'include never.conf;\n',
      'conf.d/site.conf.bak': 'server {}\n',
      'conf.d/.hidden.conf': 'server {}\n',
      'snippets/a.inc': 'return 200;\n',
      'snippets/b.txt': '',
      'certs/site.pem': 'cert\n',
    });
    const set = await nginxFileSet(join(root, 'nginx.conf'));
    assert.deepEqual(
      set.files,
      ['certs/site.pem', 'conf.d/api.conf', 'conf.d/site.conf', 'mime.types', 'nginx.conf', 'snippets/a.inc']
        .map((f) => join(root, f))
        .concat('/nonexistent/site.key')
        .sort(),
    );
    assert.deepEqual(
      set.globs.map((g) => [g.pattern, g.dir, g.recursive]),
      [
        [join(root, 'conf.d/*.conf'), join(root, 'conf.d'), false],
        [join(root, 'snippets/*.inc'), join(root, 'snippets'), false],
      ],
    );
  });

  it('a missing include is in the set (nginx -t says why); an include loop ends; a wildcard directory is walked', async () => {
    const root = layout({
      'nginx.conf': 'include a.conf;\ninclude missing.conf;\ninclude sites/*/site.conf;\n',
      'a.conf': 'include b.conf;\n',
      'b.conf': 'include a.conf;\n',
      'sites/one/site.conf': '',
      'sites/two/site.conf': '',
      'sites/two/other.conf': '',
    });
    const set = await nginxFileSet(join(root, 'nginx.conf'));
    assert.deepEqual(
      set.files,
      ['a.conf', 'b.conf', 'missing.conf', 'nginx.conf', 'sites/one/site.conf', 'sites/two/site.conf'].map((f) => join(root, f)),
    );
    assert.deepEqual(
      set.globs.map((g) => [g.dir, g.recursive]),
      [[join(root, 'sites'), true]],
    );
  });

  it('a symlinked site (sites-enabled -> sites-available) is in the set under the name nginx reads it by', async () => {
    const root = layout({ 'nginx.conf': 'http { include sites-enabled/*; }\n', 'sites-available/app': 'server {}\n', 'sites-available/off': 'server {}\n' });
    mkdirSync(join(root, 'sites-enabled'));
    symlinkSync('../sites-available/app', join(root, 'sites-enabled/app'));
    const set = await nginxFileSet(join(root, 'nginx.conf'));
    assert.deepEqual(set.files, [join(root, 'nginx.conf'), join(root, 'sites-enabled/app')]);
  });

  it('globs: never across "/", no leading dot unless spelled, [!x] negates', () => {
    assert.equal(globRegExp('/e/conf.d/*.conf').test('/e/conf.d/a.conf'), true);
    assert.equal(globRegExp('/e/conf.d/*.conf').test('/e/conf.d/x/a.conf'), false);
    assert.equal(globRegExp('/e/conf.d/*.conf').test('/e/conf.d/.a.conf'), false);
    assert.equal(globRegExp('/e/conf.d/.*.conf').test('/e/conf.d/.a.conf'), true);
    assert.equal(globRegExp('/e/site-[!b].conf').test('/e/site-a.conf'), true);
    assert.equal(globRegExp('/e/site-[!b].conf').test('/e/site-b.conf'), false);
  });
});
