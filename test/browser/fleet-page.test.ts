// The status page's fleet section in a real browser (Debian's Chromium
// through playwright-core) against three real daemons (the built CLI) with
// their own real nginx and a real etcd: a push's progress appears host by
// host without a page reload, a revision that fails nginx -t shows the halt
// reason with its host and step, the pause button works with the token (and
// says why when the token is wrong), axe finds nothing serious with the
// fleet section shown, light and dark, and 320 px has no horizontal scroll.
// RELOADKIT_UPDATE_SCREENSHOT=1 writes docs/status-page-fleet.png.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { etcdOrSkip, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { nginxOrSkip } from '../integration/helpers.js';
import { ROOT } from '../integration/daemon-process.js';
import { connected, fleetCli, fleetStatusOf, rolloutIn, siteConf, stage, startFleetHost, type FleetHost } from '../fleet/support.js';
import { chromiumOrSkip, launchChromium, newIsolatedPage, seriousViolations, watchLayoutShifts } from './browser.js';

const skip = chromiumOrSkip() || etcdOrSkip() || nginxOrSkip();
const TOKEN = 'fleet-page-token-42';

interface Watched {
  page: Page;
  consoleErrors: string[];
  navigations: number;
}

describe('status page: the fleet section in Chromium', { skip, timeout: 400_000 }, () => {
  let etcd: TestEtcd;
  let browser: Browser;
  const hosts: FleetHost[] = [];
  let tmp = '';

  before(async () => {
    browser = await launchChromium();
    etcd = await startEtcd(1);
    tmp = mkdtempSync(join(tmpdir(), 'rk-fleet-page-'));
    writeFileSync(join(tmp, 'token'), `${TOKEN}\n`);
    for (const name of ['web-1', 'web-2', 'web-3']) {
      const admin = name === 'web-1' ? `  http_reload: true\n  token_file: ${tmp}/token\n` : '';
      hosts.push(await startFleetHost({ name, endpoints: etcd.endpoints, healthFor: '300ms', admin }));
    }
    await Promise.all(hosts.map((h) => connected(h)));
  });

  after(async () => {
    await browser?.close();
    await Promise.all(hosts.map((h) => h.close()));
    await etcd?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function open(base: string, viewport = { width: 1100, height: 900 }, colorScheme: 'light' | 'dark' = 'light'): Promise<Watched> {
    const page = await newIsolatedPage(browser, { viewport, colorScheme });
    const w: Watched = { page, consoleErrors: [], navigations: 0 };
    page.on('console', (m) => {
      if (m.type() === 'error') w.consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => w.consoleErrors.push(e.message));
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) w.navigations += 1;
    });
    await page.goto(`${base}/`);
    await page.locator('#conn[data-state="live"]').waitFor();
    await page.locator('#fleet').waitFor({ state: 'visible' });
    return w;
  }

  const hostState = (page: Page, host: string) => page.locator(`.rollout[data-target="nginx"] .order li[data-host="${host}"]`);

  test('a push appears host by host, canary first, to done, without a page reload', { timeout: 120_000 }, async () => {
    const w = await open(hosts[1]!.http);
    const { page } = w;
    try {
      assert.equal(await page.locator('#fleet-name').textContent(), 'web');
      await page.locator('#fleet-rows tr').nth(2).waitFor();
      assert.deepEqual(await page.locator('#fleet-rows tr th').allTextContents(), ['web-1', 'web-2', 'web-3']);
      assert.equal(await page.locator('#fleet-rows tr[data-host="web-2"] td[data-target="nginx"]').textContent(), 'r0 idle');
      // A daemon without http_reload: no command buttons.
      assert.equal(await page.locator('#auth').isVisible(), false);

      const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '-m', 'page', '--health-wait', '1s'], stage({ 'site.conf': siteConf('v1') }));
      assert.equal(r.code, 0, r.stderr);
      const card = page.locator('.rollout[data-target="nginx"]');
      await card.waitFor();
      const shifts = await watchLayoutShifts(page);
      // The canary first: web-1 applying while web-2 and web-3 wait.
      await hostState(page, 'web-1').and(page.locator('[data-state="applying"]')).waitFor({ timeout: 30_000 });
      assert.equal(await hostState(page, 'web-3').getAttribute('data-state'), 'pending');
      assert.deepEqual(await card.locator('.order li > span:first-child').allTextContents(), ['web-1', 'web-2', 'web-3']);
      assert.equal(await hostState(page, 'web-1').locator('span').nth(1).textContent(), 'canary');
      assert.equal(await card.locator('.badge').textContent(), 'running');
      assert.equal(await card.locator('.revs').textContent(), '0 → 1');
      assert.equal(await card.locator('.rid').textContent(), 'nginx-1 (push)');
      await hostState(page, 'web-1').and(page.locator('[data-state="done"]')).waitFor({ timeout: 30_000 });
      await hostState(page, 'web-2').and(page.locator('[data-state="applying"]')).waitFor({ timeout: 30_000 });
      assert.equal(await hostState(page, 'web-3').getAttribute('data-state'), 'pending', 'one host at a time');
      await page.locator('.rollout[data-target="nginx"] .progress', { hasText: '1/3 done' }).waitFor({ timeout: 10_000 });
      for (const h of ['web-2', 'web-3']) await hostState(page, h).and(page.locator('[data-state="done"]')).waitFor({ timeout: 30_000 });
      await card.locator('.badge', { hasText: 'done' }).waitFor({ timeout: 10_000 });
      assert.equal(await card.locator('.progress').textContent(), '3/3 done');
      await page.locator('#fleet-rows tr[data-host="web-3"] td[data-target="nginx"]', { hasText: 'r1 done' }).waitFor({ timeout: 10_000 });
      assert.equal(await card.getAttribute('data-tone'), 'ok');
      assert.equal(w.navigations, 1, 'never reloaded');
      const moved = await shifts();
      assert.equal(moved.score, 0, `nothing moved while the rollout went on: ${moved.moved.join('; ')}`);
      assert.deepEqual(w.consoleErrors, []);
    } finally {
      await page.close();
    }
  });

  test('a revision failing nginx -t halts the rollout; the page shows the host and step', { timeout: 120_000 }, async () => {
    const w = await open(hosts[0]!.http);
    const { page } = w;
    try {
      const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '-m', 'broken'], stage({ 'site.conf': 'no_such_directive on;\n' }));
      assert.equal(r.code, 0, r.stderr);
      const card = page.locator('.rollout[data-target="nginx"]');
      await card.locator('.badge', { hasText: 'halted' }).waitFor({ timeout: 60_000 });
      const st = (await fleetStatusOf(etcd.endpoints)).targets.nginx!.rollout!;
      assert.equal(st.state, 'halted');
      assert.equal(await card.locator('.where').textContent(), `Halted: ${st.failure!.host}, step ${st.failure!.step}`);
      assert.equal(await card.locator('.where').textContent(), 'Halted: web-1, step check');
      // nginx's complaint first, before the command line that found it.
      assert.match(
        (await card.locator('.message').textContent()) ?? '',
        /^\[emerg\] unknown directive "no_such_directive" in \S+site\.conf:1\n\nvalidation_failed: /,
      );
      assert.equal(await card.locator('.problem').getAttribute('data-has'), 'yes');
      assert.equal(await card.getAttribute('data-tone'), 'fail');
      assert.equal(await hostState(page, 'web-1').getAttribute('data-state'), 'failed');
      assert.equal(await hostState(page, 'web-2').getAttribute('data-state'), 'pending');
      assert.equal(await card.locator('button.act:visible').count(), 0, 'no command for a halted rollout');
      assert.deepEqual(w.consoleErrors, []);
      if (process.env.RELOADKIT_UPDATE_SCREENSHOT === '1') {
        await page.setViewportSize({ width: 1280, height: 900 });
        const shot = join(ROOT, 'node_modules', '.cache', 'reloadkit', 'status-page-fleet.png');
        mkdirSync(join(shot, '..'), { recursive: true });
        await page.locator('#fleet').screenshot({ path: shot });
        copyFileSync(shot, join(ROOT, 'docs', 'status-page-fleet.png'));
      }

      for (const scheme of ['light', 'dark'] as const) {
        for (const width of [1100, 320]) {
          const { page: p } = await open(hosts[0]!.http, { width, height: 800 }, scheme);
          try {
            await p.locator('.rollout .badge', { hasText: 'halted' }).waitFor();
            assert.deepEqual(await seriousViolations(p), [], `${scheme}, ${width} px`);
            const overflow = Number(await p.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'));
            assert.equal(overflow, 0, `no horizontal scroll at ${width} px (${scheme})`);
          } finally {
            await p.close();
          }
        }
      }
    } finally {
      await page.close();
    }
  });

  test(
    'pause with the token: refused with a wrong one, paused with the right one, keyboard only; the token is never stored',
    { timeout: 150_000 },
    async () => {
      const w = await open(hosts[0]!.http);
      const { page } = w;
      try {
        assert.equal(await page.locator('#auth').isVisible(), true, 'the token field is offered');
        // A slow health gate: each turn takes 5 s, time enough to pause before the last host.
        const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '--health-wait', '5s'], stage({ 'site.conf': siteConf('v3') }));
        assert.equal(r.code, 0, r.stderr);
        const card = page.locator('.rollout[data-target="nginx"]');
        await card.locator('.badge', { hasText: 'running' }).waitFor({ timeout: 30_000 });
        const pause = card.locator('button[data-cmd="pause"]');
        await pause.waitFor({ state: 'visible' });
        assert.equal(await card.locator('button[data-cmd="abort"]').isVisible(), true);
        assert.equal(await card.locator('button[data-cmd="resume"]').isVisible(), false);

        await page.locator('#token').fill('not-the-token');
        await pause.focus();
        await page.keyboard.press('Enter');
        await card.locator('.confirm', { hasText: 'Refused' }).waitFor({ timeout: 10_000 });
        assert.equal(await card.locator('.confirm').textContent(), 'Refused: the token is missing or wrong (401). Nothing changed.');
        assert.equal((await fleetStatusOf(etcd.endpoints)).targets.nginx!.rollout!.state, 'running');
        // The browser logs the 401 response itself; nothing else may be logged.
        assert.ok(
          w.consoleErrors.every((e) => /status of 401/.test(e)),
          w.consoleErrors.join('\n'),
        );
        w.consoleErrors.length = 0;

        await page.locator('#token').fill(TOKEN);
        await pause.focus();
        await page.keyboard.press('Space');
        await card.locator('.confirm', { hasText: 'is paused' }).waitFor({ timeout: 10_000 });
        assert.match((await card.locator('.confirm').textContent()) ?? '', /^Done at \d\d:\d\d:\d\d: rollout nginx-\d+ is paused\.$/);
        await card.locator('.badge', { hasText: 'paused' }).waitFor({ timeout: 10_000 });
        const resume = card.locator('button[data-cmd="resume"]');
        assert.equal(await resume.isVisible(), true);
        assert.equal(await pause.isVisible(), false);
        assert.equal(await page.evaluate('document.activeElement?.dataset.cmd'), 'resume', 'the focus moved from Pause to Resume');
        const st = await rolloutIn(etcd.endpoints, ['paused'], 'paused in etcd', 5000);
        assert.equal(st.targets.nginx!.rollout!.state, 'paused');

        // axe with the command buttons and the confirmation shown.
        assert.deepEqual(await seriousViolations(page), []);

        // Abort from the keyboard too, to end the rollout: it takes a second press.
        const abort = card.locator('button[data-cmd="abort"]');
        await abort.focus();
        await page.keyboard.press('Enter');
        assert.equal(await abort.textContent(), 'Confirm abort');
        assert.equal(await card.locator('.confirm').textContent(), 'Abort for good? Press again within 5 s.');
        assert.equal((await fleetStatusOf(etcd.endpoints)).targets.nginx!.rollout!.state, 'paused', 'one press aborts nothing');
        // Unconfirmed, it disarms by itself.
        await card.locator('.confirm', { hasText: 'Not aborted' }).waitFor({ timeout: 10_000 });
        assert.equal(await abort.textContent(), 'Abort');
        assert.equal((await fleetStatusOf(etcd.endpoints)).targets.nginx!.rollout!.state, 'paused');
        await page.keyboard.press('Enter');
        await page.keyboard.press('Enter');
        await card.locator('.badge', { hasText: 'aborted' }).waitFor({ timeout: 10_000 });
        assert.equal(await card.locator('.where').textContent(), 'Aborted');
        assert.match((await card.locator('.message').textContent()) ?? '', /^aborted by http 127\.0\.0\.1$/);
        assert.equal(await card.locator('button.act:visible').count(), 0);
        assert.equal((await fleetStatusOf(etcd.endpoints)).targets.nginx!.rollout!.state, 'aborted');

        const stored = await page.evaluate('({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie })');
        assert.deepEqual(stored, { local: 0, session: 0, cookie: '' }, 'the token is never stored');
        assert.deepEqual(w.consoleErrors, []);
        assert.equal(w.navigations, 1);
      } finally {
        await page.close();
      }
    },
  );
});
