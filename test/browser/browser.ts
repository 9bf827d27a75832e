// Real Chromium for the status page tests: Debian's /usr/bin/chromium driven
// by playwright-core (no browser download). Under CI=true a missing browser
// fails the tests; elsewhere they skip with a loud message.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

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
