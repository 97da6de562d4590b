// Browser sign-in test: Debian's Chromium, driven by playwright-core, signs
// in to "Office 365" (m365sim, the Microsoft 365 emulator) through Portico,
// the way a person does in `portico demo`:
//
//   1. john.smith: the emulator's start page → its home-realm discovery sends
//      the browser to Portico → password → the current TOTP code → Portico's
//      auto-submitting form → the emulator's "You're signed in" page.
//   2. ann.lee, who has no authenticator yet: password → the enrolment page
//      (the key is read from the page, the code computed from it) → the
//      recovery codes → the emulator's signed-in page.
//
// A screenshot of every page goes to SCREENSHOT_DIR. Everything comes from
// the environment (cmd/portico's TestBrowserSignIn sets it from
// `portico demo --json`):
//
//   M365SIM_URL      the emulator's base URL (https, self-signed)
//   PORTICO_URL      Portico's base URL
//   USER_UPN, USER_PASSWORD, USER_TOTP_SECRET, USER_NAME (display name)
//   ENROL_UPN, ENROL_PASSWORD, ENROL_NAME
//   SCREENSHOT_DIR   where the screenshots go (created if missing)
//   CHROMIUM         the browser (default /usr/bin/chromium)
//
// It never downloads a browser. Exit status 0 when both sign-ins succeed.

import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`environment variable ${name} is not set`);
  }
  return v;
}

// RFC 4648 base32 (the authenticator key), spaces and padding ignored.
function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = s.toUpperCase().replace(/[\s=]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of clean) {
    const i = alphabet.indexOf(c);
    if (i < 0) {
      throw new Error(`not base32: ${JSON.stringify(s)}`);
    }
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP: HMAC-SHA1, 30-second steps, 6 digits (RFC 4226 §5.3
// dynamic truncation).
export function totp(secret, when = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(when / 1000 / 30)));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

const simURL = env('M365SIM_URL').replace(/\/$/, '');
const porticoURL = env('PORTICO_URL').replace(/\/$/, '');
const shots = env('SCREENSHOT_DIR');
mkdirSync(shots, { recursive: true });

let shotNo = 0;
async function shot(page, name) {
  shotNo += 1;
  const file = join(shots, `${String(shotNo).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot ${file}`);
}

function fail(msg) {
  throw new Error(msg);
}

// onPortico waits until the page is one of Portico's and shows heading h1.
async function onPortico(page, heading) {
  await page.waitForURL((u) => u.href.startsWith(porticoURL + '/'));
  await page.locator('h1', { hasText: heading }).waitFor();
}

// signedIn waits for the emulator's signed-in page and checks that it names
// the user.
async function signedIn(page, name, upn) {
  await page.waitForURL((u) => u.href === simURL + '/login.srf');
  await page.locator('h1', { hasText: "You're signed in" }).waitFor();
  const text = await page.locator('body').innerText();
  if (!text.includes(name) || !text.includes(upn)) {
    fail(`the signed-in page does not name ${name} <${upn}>:\n${text}`);
  }
  if (!/Protocol\s+WS-Federation/.test(text)) {
    fail(`the signed-in page does not say WS-Federation:\n${text}`);
  }
  console.log(`signed in: ${name} <${upn}>`);
}

async function signInWithAuthenticator(context) {
  const upn = env('USER_UPN');
  const page = await context.newPage();
  // The emulator's start page, as Microsoft's sign-in page: type the user
  // name, Next.
  await page.goto(simURL + '/common/login');
  await page.locator('input[name=username]').fill(upn);
  // As a Conditional Access policy would: Microsoft 365 then wants MFA,
  // and accepts the second factor Portico performed.
  await page.getByLabel(/Require MFA/).check();
  await shot(page, 'm365sim-start');
  await page.getByRole('button', { name: 'Next' }).click();

  // Home-realm discovery: contoso.com is federated, so Portico.
  await onPortico(page, 'Enter your password');
  if (!(await page.locator('main').innerText()).includes(upn)) {
    fail('Portico does not show the user name Microsoft 365 passed on');
  }
  await page.locator('#password').fill(env('USER_PASSWORD'));
  await shot(page, 'portico-password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();

  await onPortico(page, 'Enter your verification code');
  await page.locator('#code').fill(totp(env('USER_TOTP_SECRET')));
  await shot(page, 'portico-totp');
  await page.getByRole('button', { name: 'Verify' }).click();

  // Portico's auto-submitting form posts the token to /login.srf.
  await signedIn(page, env('USER_NAME'), upn);
  const text = await page.locator('body').innerText();
  if (!/MFA\s+done by federatedIdp/.test(text)) {
    fail(`the signed-in page does not say Portico's second factor satisfied MFA:\n${text}`);
  }
  await shot(page, 'm365sim-signed-in');
  await page.close();
}

async function signInAndEnrol(context) {
  const upn = env('ENROL_UPN');
  const page = await context.newPage();
  await page.goto(simURL + '/common/login?username=' + encodeURIComponent(upn));

  await onPortico(page, 'Enter your password');
  await page.locator('#password').fill(env('ENROL_PASSWORD'));
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();

  // No authenticator yet: Portico shows the QR code and the key.
  await onPortico(page, 'Set up your authenticator app');
  const qr = page.locator('img.qr');
  await qr.waitFor();
  if (!(await qr.evaluate((img) => img.complete && img.naturalWidth > 0))) {
    fail('the QR code image did not load');
  }
  const key = (await page.locator('.secret').innerText()).replace(/\s/g, '');
  if (!/^[A-Z2-7]{16,}$/.test(key)) {
    fail(`the enrolment page shows no usable key: ${JSON.stringify(key)}`);
  }
  await page.locator('#code').fill(totp(key));
  await shot(page, 'portico-enrol');
  await page.getByRole('button', { name: 'Confirm' }).click();

  await onPortico(page, 'Save your recovery codes');
  const codes = await page.locator('ol.codes li').allInnerTexts();
  if (codes.length < 5) {
    fail(`recovery codes: ${JSON.stringify(codes)}`);
  }
  await shot(page, 'portico-recovery-codes');
  await page.getByRole('link', { name: /continue/ }).click();

  await signedIn(page, env('ENROL_NAME'), upn);
  await shot(page, 'm365sim-signed-in-enrolled');
  await page.close();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  // One context (a browser profile) per person: no shared session.
  for (const run of [signInWithAuthenticator, signInAndEnrol]) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1000, height: 760 } });
    context.setDefaultTimeout(20_000);
    const errors = [];
    context.on('weberror', (e) => errors.push(e.error().message));
    context.on('console', (m) => {
      if (m.type() !== 'error') {
        return;
      }
      if (m.text().startsWith('Failed to load resource') && m.location().url.endsWith('/favicon.ico')) {
        console.log(`note: ${m.text()}: ${m.location().url} (browsers ask every site for one)`);
        return;
      }
      errors.push(`${m.text()} (${m.location().url})`);
    });
    context.on('response', (r) => {
      if (r.status() < 400) {
        return;
      }
      const what = `${r.status()} for ${r.request().method()} ${r.url()}`;
      if (r.url().endsWith('/favicon.ico')) {
        console.log(`note: ${what} (browsers ask every site for one)`);
      } else {
        errors.push(what);
      }
    });
    context.on('requestfailed', (r) => {
      if (!r.url().endsWith('/favicon.ico')) {
        errors.push(`${r.method()} ${r.url()} failed: ${r.failure()?.errorText}`);
      }
    });
    await run(context);
    if (errors.length > 0) {
      fail(`${run.name}: errors in the pages: ${errors.join('; ')}`);
    }
    await context.close();
  }
} finally {
  await browser.close();
}
console.log('ok');
