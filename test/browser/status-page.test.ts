// The status page in a real browser (Debian's Chromium through
// playwright-core) against the real daemon (the built dist/cli.js): it
// loads cleanly from its own origin only, follows passes live, shows
// errors with file:line, offers reload only when enabled and with the right
// token, passes axe, fits 320 px, in light and dark, and does not move when
// events arrive. RELOADKIT_UPDATE_SCREENSHOT=1 writes docs/status-page.png.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startDaemon, ROOT, type DaemonHandle } from '../integration/daemon-process.js';
import { freePort } from '../integration/helpers.js';
import { chromiumOrSkip, launchChromium, newIsolatedPage, seriousViolations, watchLayoutShifts } from './browser.js';

const skip = chromiumOrSkip();
const TOKEN = 'open-sesame-4711';
const tmp = mkdtempSync(join(tmpdir(), 'rk-page-'));
const daemons = new Set<DaemonHandle>();
let browser: Browser | null = null;

before(async () => {
  if (!skip) browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  for (const d of daemons) await d.stop('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

interface Site {
  dir: string;
  base: string;
  d: DaemonHandle;
  write(file: string, text: string): void;
}

let seq = 0;
/** A daemon with two command targets; `web` checks site.conf and names the file and line of a bad one. */
async function site(admin: string): Promise<Site> {
  const dir = join(tmp, `s${++seq}`);
  mkdirSync(dir);
  const port = await freePort();
  const write = (file: string, text: string) => writeFileSync(join(dir, file), text);
  write('site.conf', 'listen 8080;\n');
  write('api.conf', 'upstream a;\n');
  write('token', `${TOKEN}\n`);
  write(
    'reloadkit.yaml',
    `state_dir: ./state
# Passes come from the socket and the page in these tests, not from the watcher.
watch:
  debounce: 20s
  max_wait: 20s
admin:
  socket: ./admin.sock
  http: 127.0.0.1:${port}
${admin}targets:
  web:
    kind: command
    watch: [./site.conf]
    check: [sh, -c, "if grep -Hn bad site.conf >&2; then exit 1; fi"]
    reload: ["true"]
  api:
    kind: command
    watch: [./api.conf]
    reload: ["true"]
`,
  );
  const d = await startDaemon({ args: ['-c', join(dir, 'reloadkit.yaml')], socket: join(dir, 'admin.sock') });
  daemons.add(d);
  return { dir, base: `http://127.0.0.1:${port}`, d, write };
}

interface Watched {
  page: Page;
  consoleErrors: string[];
  requests: string[];
  navigations: number;
}

async function open(base: string, viewport = { width: 1100, height: 900 }, colorScheme: 'light' | 'dark' = 'light'): Promise<Watched> {
  const page = await newIsolatedPage(browser!, { viewport, colorScheme });
  const w: Watched = { page, consoleErrors: [], requests: [], navigations: 0 };
  page.on('console', (m) => {
    if (m.type() === 'error') w.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => w.consoleErrors.push(e.message));
  page.on('request', (r) => w.requests.push(r.url()));
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) w.navigations += 1;
  });
  await page.goto(`${base}/`);
  await page.locator('.unit[data-unit="api"]').waitFor();
  await page.locator('#conn[data-state="live"]').waitFor();
  return w;
}

const card = (page: Page, unit: string) => page.locator(`.unit[data-unit="${unit}"]`);

describe('status page in Chromium', { skip }, () => {
  test(
    'loads from its own origin only, without console errors; passes over the socket appear live; a failure shows file:line; no layout shift',
    { timeout: 120_000 },
    async () => {
      const s = await site('  http_reload: true\n  token_file: ./token\n');
      const w = await open(s.base);
      const { page } = w;
      try {
        assert.deepEqual(w.consoleErrors, [], 'no console errors on load');
        const origin = new URL(s.base).origin;
        assert.deepEqual(
          w.requests.filter((u) => new URL(u).origin !== origin),
          [],
          'no request to another origin',
        );
        assert.deepEqual(
          [...new Set(w.requests.map((u) => new URL(u).pathname))].sort(),
          ['/', '/events', '/favicon.svg', '/page.css', '/page.js'],
          'the page, its three files and the event stream',
        );
        assert.equal(await card(page, 'api').locator('.badge').textContent(), 'no reload yet');
        const shifts = await watchLayoutShifts(page);

        // A pass triggered over the admin socket after load.
        const reply = JSON.parse(await s.d.send('reload api')) as { status: string; results: { api: { generation: number } } };
        assert.equal(reply.status, 'ok');
        const t0 = Date.now();
        await card(page, 'api').locator('.badge', { hasText: 'success' }).waitFor({ timeout: 5000 });
        const shownMs = Date.now() - t0;
        assert.ok(shownMs < 1000, `the pass appeared after ${shownMs} ms`);
        assert.equal(await card(page, 'api').locator('.gen').textContent(), String(reply.results.api.generation));
        assert.equal(await card(page, 'api').locator('.trigger').textContent(), 'socket');
        assert.equal(await page.locator('#timeline li').first().locator('.u').textContent(), 'api');

        // A failing pass: its error, with the file and line.
        s.write('site.conf', 'listen 8080;\nbad directive;\n');
        const failed = JSON.parse(await s.d.send('reload web')) as { status: string; message: string };
        assert.equal(failed.status, 'error');
        const web = card(page, 'web');
        await web.locator('.badge', { hasText: 'invalid config' }).waitFor({ timeout: 5000 });
        assert.equal(await web.locator('.where').textContent(), 'site.conf:2');
        assert.match((await web.locator('.message').textContent()) ?? '', /site\.conf:2:bad directive;/);
        assert.equal(await web.getAttribute('data-tone'), 'fail');
        assert.match((await page.locator('#timeline li').first().locator('.st').textContent()) ?? '', /✕ invalid config/);
        // Still serving the last valid config: ready, and degraded by the refused reload.
        await page.locator('#ready', { hasText: 'Degraded' }).waitFor({ timeout: 5000 });
        assert.match((await page.locator('#reasons').textContent()) ?? '', /last reload validation_failed/);

        // Fixed again, through the socket: back to success without a page reload.
        s.write('site.conf', 'listen 8081;\n');
        await s.d.send('reload web');
        await web.locator('.badge', { hasText: 'success' }).waitFor({ timeout: 5000 });
        assert.equal(await web.locator('.message').textContent(), 'No error.');
        assert.equal(w.navigations, 1, 'never reloaded');
        const moved = await shifts();
        assert.equal(moved.score, 0, `nothing moved while events arrived: ${moved.moved.join('; ')}`);

        if (process.env.RELOADKIT_UPDATE_SCREENSHOT === '1') {
          s.write('site.conf', 'listen 8081;\nbad gzip_level 11;\n');
          await s.d.send('reload web');
          await web.locator('.badge', { hasText: 'invalid config' }).waitFor();
          await page.locator('#reasons', { hasText: 'gzip_level' }).waitFor();
          await page.locator('#token').blur();
          await page.setViewportSize({ width: 1280, height: 900 });
          const shot = join(ROOT, 'node_modules', '.cache', 'reloadkit', 'status-page.png');
          mkdirSync(join(shot, '..'), { recursive: true });
          await page.screenshot({ path: shot });
          copyFileSync(shot, join(ROOT, 'docs', 'status-page.png'));
        }
      } finally {
        await page.close();
        await s.d.stop();
      }
    },
  );

  test(
    'reload button: works with the right token and confirms the ReloadResult, refused with a clear message with a wrong one; keyboard only',
    { timeout: 120_000 },
    async () => {
      const s = await site('  http_reload: true\n  token_file: ./token\n');
      const { page } = await open(s.base);
      try {
        assert.equal(await page.locator('#auth').isVisible(), true, 'the token field is offered');
        const api = card(page, 'api');
        const button = api.locator('button.reload');
        assert.equal(await button.isVisible(), true);

        await page.locator('#token').fill('wrong-token');
        await button.focus();
        await page.keyboard.press('Enter');
        await api.locator('.confirm', { hasText: 'Refused' }).waitFor({ timeout: 10_000 });
        assert.equal(await api.locator('.confirm').textContent(), 'Refused: the token is missing or wrong (401). Nothing was reloaded.');
        assert.equal(s.d.passes('api').length, 0, 'no pass ran');

        await page.locator('#token').fill(TOKEN);
        await button.focus();
        await page.keyboard.press('Space');
        await api.locator('.confirm', { hasText: 'generation 1' }).waitFor({ timeout: 10_000 });
        assert.match((await api.locator('.confirm').textContent()) ?? '', /^success at \d\d:\d\d:\d\d: generation 1, [\d.]+ m?s$/);
        assert.equal(await api.locator('.trigger').textContent(), 'http');
        assert.equal(s.d.passes('api').length, 1);

        const stored = await page.evaluate('({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie })');
        assert.deepEqual(stored, { local: 0, session: 0, cookie: '' }, 'the token is never stored');
      } finally {
        await page.close();
        await s.d.stop();
      }
    },
  );

  test('no reload button when http_reload is off', { timeout: 60_000 }, async () => {
    const s = await site('');
    const { page } = await open(s.base);
    try {
      assert.equal(await page.locator('button.reload').count(), 3);
      assert.equal(await page.locator('button.reload:visible').count(), 0);
      assert.equal(await page.locator('#auth').isVisible(), false);
    } finally {
      await page.close();
      await s.d.stop();
    }
  });

  test('axe finds no serious or critical violation, light and dark, wide and 320 px; 320 px has no horizontal scroll', { timeout: 120_000 }, async () => {
    const s = await site('  http_reload: true\n  token_file: ./token\n');
    try {
      s.write('site.conf', 'bad;\n');
      await s.d.send('reload web');
      await s.d.send('reload api');
      for (const scheme of ['light', 'dark'] as const) {
        for (const width of [1100, 320]) {
          const { page } = await open(s.base, { width, height: 800 }, scheme);
          try {
            await card(page, 'web').locator('.badge', { hasText: 'invalid config' }).waitFor();
            assert.deepEqual(await seriousViolations(page), [], `${scheme}, ${width} px`);
            const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'));
            assert.equal(overflow, 0, `no horizontal scroll at ${width} px (${scheme})`);
          } finally {
            await page.close();
          }
        }
      }
    } finally {
      await s.d.stop();
    }
  });
});
