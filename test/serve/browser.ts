/**
 * Headless Chromium for the browser tests: Debian's chromium driven by
 * playwright-core. A missing browser is a failure with instructions, not a
 * skip: CI installs it through setup.sh.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Where tests put screenshots (gitignored). */
export const ARTIFACTS = 'test-artifacts';

/** Starts headless Chromium with no network chatter (the machine may have no network). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: the browser tests need Debian's chromium package (./setup.sh installs it; or apt-get install chromium)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    // --no-sandbox: Chromium's sandbox refuses to run as root, as CI does
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** The path for a screenshot named `name`, its folder created. */
export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
