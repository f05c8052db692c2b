import fs from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';

/**
 * Debian's Chromium, driven by playwright-core: nothing is downloaded. Missing, it fails the run
 * (CI installs it: see .ci/run). Playwright gives every launch a fresh, temporary profile.
 */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`The end-to-end tests need Chromium at ${chromiumPath}: apt-get install -y chromium`);
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Signs in through the page's own form, in either language, and waits for the main navigation. */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel(/^(Email|E-mail)$/).fill(email);
  await page.getByLabel(/^(Password|Senha)$/).fill(password);
  await page.getByRole('button', { name: /^(Sign in|Entrar)$/ }).click();
  await page.getByRole('navigation', { name: /^(Main|Principal)$/ }).waitFor();
}

/** Picks the signed-in user's language in the user menu. */
export async function setLanguage(page: Page, language: 'English' | 'Português (Brasil)'): Promise<void> {
  await page.locator('.menu > button').click();
  await page.locator('.menu-list select').selectOption({ label: language });
  await page.locator('.menu > button').click();
  // The page re-renders in the new language once it is saved: wait for it, not for time.
  await page.locator(`html[lang="${language === 'English' ? 'en' : 'pt-BR'}"]`).waitFor({ state: 'attached' });
}
