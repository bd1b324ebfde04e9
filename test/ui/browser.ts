/**
 * Driving Debian's chromium with puppeteer-core (no browser download), and the
 * screenshot folder the UI tests leave for a developer to look at.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { which } from '../helpers/tools.js';

export async function launchChromium(): Promise<Browser> {
  const executablePath = (await which('chromium')) ?? '/usr/bin/chromium';
  // --no-sandbox: tests run as root in CI, where chromium refuses its sandbox.
  return puppeteer.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

/** One folder per run, printed once, kept after the tests (PNGs for people to look at). */
let shots: string | undefined;
export async function screenshot(page: Page, name: string): Promise<void> {
  if (shots === undefined) {
    shots = mkdtempSync(join(tmpdir(), 'unireg-ui-shots-'));
    process.stderr.write(`# UI screenshots: ${shots}\n`);
  }
  await page.screenshot({ path: join(shots, `${name}.png`) as `${string}.png`, fullPage: true });
}

export async function texts(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(selector, (els) => els.map((e) => (e.textContent ?? '').trim()));
}
