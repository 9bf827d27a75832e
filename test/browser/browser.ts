// Real Chromium for the status page tests: Debian's /usr/bin/chromium driven
// by playwright-core (no browser download). Under CI=true a missing browser
// fails the tests; elsewhere they skip with a loud message.
import { existsSync } from 'node:fs';
import AxeBuilder from '@axe-core/playwright';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

const CHROMIUM = process.env.RELOADKIT_CHROMIUM ?? '/usr/bin/chromium';

/** False when Chromium can be used, else the reason to skip (throws under CI). */
export function chromiumOrSkip(): string | false {
  if (existsSync(CHROMIUM)) return false;
  const msg = `Chromium is not installed at ${CHROMIUM}: the status page browser tests need it (apt-get install chromium)`;
  if (process.env.CI === 'true') throw new Error(msg);
  process.stderr.write(`\n!!! SKIPPING: ${msg}\n\n`);
  return msg;
}

/** A headless Chromium with a fresh profile (playwright makes a new user-data-dir per launch). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export interface LayoutShifts {
  /** The summed layout-shift score since the watch began. */
  score: number;
  /** What moved, as `selector: old rect -> new rect`, for the assertion message. */
  moved: string[];
}

/**
 * Starts summing layout shifts from now on (shifts right after user input
 * excluded, as browsers score them) and remembers which elements moved.
 */
export async function watchLayoutShifts(page: Page): Promise<() => Promise<LayoutShifts>> {
  // Script as text: it runs in the page, not under Node's types.
  await page.evaluate(`
    window.__shift = { score: 0, moved: [] };
    const describe = (n) => {
      if (!n || n.nodeType !== 1) return n ? n.nodeName : '?';
      const id = n.id ? '#' + n.id : '';
      const cls = n.className && typeof n.className === 'string' ? '.' + n.className.trim().split(/\\s+/).join('.') : '';
      const data = [...n.attributes].filter((a) => a.name.startsWith('data-')).map((a) => '[' + a.name + '=' + a.value + ']').join('');
      return n.nodeName.toLowerCase() + id + cls + data;
    };
    const rect = (r) => Math.round(r.x) + ',' + Math.round(r.y) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height);
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.hadRecentInput) continue;
        window.__shift.score += e.value;
        for (const s of e.sources || []) window.__shift.moved.push(describe(s.node) + ': ' + rect(s.previousRect) + ' -> ' + rect(s.currentRect));
      }
    }).observe({ type: 'layout-shift' });
  `);
  return async () => (await page.evaluate('window.__shift')) as LayoutShifts;
}

/** axe-core's serious and critical violations on the page as it is now. */
export async function seriousViolations(page: Page): Promise<string[]> {
  const r = await new AxeBuilder({ page }).analyze();
  return r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/**
 * A page in a context of its own (no shared storage between tests); closing
 * the page closes its context. That close may still be under way when the
 * browser itself closes, which makes it fail with "browser has been closed":
 * nothing is left to release then, so that failure is dropped.
 */
export async function newIsolatedPage(browser: Browser, options: BrowserContextOptions): Promise<Page> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.on('close', () => {
    context.close().catch(() => undefined);
  });
  return page;
}
