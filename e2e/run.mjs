// Real-browser end-to-end tests of the whole sign-in: Sesame's demo (`sesame serve --demo`), the
// sample web app (examples/sample_web) and the sample SPA (examples/sample_spa), driven by
// playwright-core in Debian's Chromium (headless, no sandbox, no GPU, no background networking,
// a fresh profile per scenario).
//
// The codes come from the test channels: the demo's console SMS channel prints each text message
// on Sesame's standard output, its console mailer each mail (email codes), and its banner prints
// alice's backup codes; this script reads them from the process it started. Authenticator-app codes are computed here (RFC 6238) from the
// secret the setup page shows, as an app would; passkeys live on Chromium's virtual authenticator (CDP `WebAuthn`). Every page is saved as a screenshot under target/e2e/.
//
// Usage: node e2e/run.mjs (after `cargo build --bin sesame --example sample_web` and `npm ci` in
// e2e/ and examples/sample_spa/). Exits non-zero when a scenario fails.

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TARGET = process.env.CARGO_TARGET_DIR || join(ROOT, 'target');
const SESAME_BIN = process.env.SESAME_BIN || join(TARGET, 'debug', 'sesame');
const WEB_BIN = process.env.SAMPLE_WEB_BIN || join(TARGET, 'debug', 'examples', 'sample_web');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = join(ROOT, 'target', 'e2e');
const SESAME = 'http://localhost:9090';
const WEB = 'http://localhost:8080';
const SPA = 'http://localhost:5173';
const PASSWORD = 'sesame-demo-password';

/** A child process whose output is kept, so the test can wait for and read what it printed. */
class Proc {
  constructor(name, cmd, args, opts = {}) {
    this.name = name;
    this.out = '';
    this.child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d) => { this.out += d.toString(); });
    this.child.stderr.on('data', (d) => { this.out += d.toString(); });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', resolve);
      // A binary that cannot start (not built) must not crash the script past its cleanup.
      this.child.on('error', (e) => { this.out += `\n${e}`; resolve(); });
    });
  }

  running() {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined;
  }

  async stop() {
    if (!this.running()) return;
    this.child.kill('SIGTERM');
    const gone = await Promise.race([this.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
    if (!gone) this.child.kill('SIGKILL');
  }
}

async function waitFor(what, check, seconds = 60) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch { /* not yet */ }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const up = (url) => waitFor(url, async () => (await fetch(url, { redirect: 'manual' })).status < 500);

/** The SMS one-time passwords Sesame printed so far for `number` (alice's unless said),
 * oldest first. */
function codes(sesame, number = '+14155550100') {
  const to = number.replace('+', '\\+');
  return [...sesame.out.matchAll(new RegExp(`=== SMS to ${to}[^\\n]*\\n[^\\n]*? is ([A-Z0-9]+)\\.`, 'g'))].map((m) => m[1]);
}

/** The email codes Sesame's console mailer printed so far to `address`, oldest first. */
function emailCodes(sesame, address = 'alice@example.com') {
  const to = address.replaceAll('.', '\\.');
  return [...sesame.out.matchAll(new RegExp(`=== Email to ${to}[^\\n]*\\nSubject: Your sign-in code[^\\n]*\\n[\\s\\S]*?\\n {4}([0-9]{6})\\n`, 'g'))].map((m) => m[1]);
}

/** Waits for a code sent after `before` codes were printed. */
async function nextCode(sesame, before) {
  return waitFor('an SMS code', () => codes(sesame).length > before && codes(sesame).at(-1), 10);
}

let shotNo = 0;
async function shot(page, name) {
  shotNo += 1;
  const file = join(SHOTS, `${String(shotNo).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`    screenshot ${file}`);
}

function check(ok, message) {
  if (!ok) throw new Error(message);
}

/** RFC 4648 base32 (the authenticator-app secret as the setup page shows it) to bytes. */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = ((value << 5) | i) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The code an authenticator app shows at `seconds` (RFC 6238: HMAC-SHA-1, 30 s, 6 digits). */
function totp(secret, seconds = Date.now() / 1000) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(seconds / 30)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** Sesame's sign-in page: checks what a user (and a screen reader) needs, then signs in; waits
 * for the next step's page (`next`, the SMS OTP page unless said otherwise). */
async function signIn(page, name, next = /\/t\/demo\/otp\?tx=/) {
  await page.waitForURL(/\/t\/demo\/login\?tx=/);
  check(await page.locator('label[for=username]').count() === 1, 'the username field has a label');
  check(await page.locator('label[for=password]').count() === 1, 'the password field has a label');
  check((await page.locator('p.muted').first().textContent()).includes('Sesame demo'), 'the organization is named');
  await shot(page, `${name}-sign-in`);
  await page.fill('#username', 'alice');
  await page.fill('#password', PASSWORD);
  await page.click('form[action$="/login"] button[type=submit]');
  await page.waitForURL(next);
}

async function enterCode(page, code) {
  await page.fill('#code', code);
  await page.click('button[name=action][value=verify]');
}

const scenarios = [];
const scenario = (name, fn) => scenarios.push({ name, fn });

// 1. The web app: password, then the SMS code; claims with amr/acr, UserInfo, refresh.
scenario('web app: password + SMS OTP, claims, UserInfo, refresh', async ({ browser, sesame, state }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(WEB);
  await shot(page, 'web-signed-out');
  const before = codes(sesame).length;
  await page.click('#sign-in');
  await signIn(page, 'web');
  const code = await nextCode(sesame, before);
  check((await page.textContent('body')).includes('0100'), 'the OTP page shows the masked number');
  await shot(page, 'web-otp');
  await enterCode(page, code);
  await page.waitForURL(`${WEB}/`);
  const claims = JSON.parse(await page.textContent('#claims'));
  check(JSON.stringify(claims.amr) === JSON.stringify(['pwd', 'sms', 'otp', 'mfa']), `amr ${JSON.stringify(claims.amr)}`);
  check(claims.acr === 'urn:sesame:acr:mfa', `acr ${claims.acr}`);
  check((await page.textContent('#userinfo')).includes('alice@example.com'), 'UserInfo shows the email');
  await shot(page, 'web-signed-in');
  await page.click('#refresh');
  await page.waitForSelector('#refreshed');
  await shot(page, 'web-refreshed');
  state.web = { context, page };
});

// 2. A wrong code, then the right one.
scenario('web app: a wrong OTP, then the right one', async ({ browser, sesame }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${WEB}/login`);
  const before = codes(sesame).length;
  await signIn(page, 'wrong-otp');
  const code = await nextCode(sesame, before);
  const wrong = code === '000000' ? '111111' : '000000';
  await enterCode(page, wrong);
  const alert = page.locator('p.error[role=alert]');
  await alert.waitFor();
  check((await alert.textContent()).length > 0, 'the error is announced');
  check(await page.locator('#code').count() === 1, 'the field is offered again');
  await shot(page, 'otp-wrong-code');
  await enterCode(page, code);
  await page.waitForURL(`${WEB}/`);
  check((await page.textContent('#claims')).includes('"mfa"'), 'signed in with MFA');
  await context.close();
});

// 3. Resend: the old code stops working, the new one signs in.
scenario('web app: resend, then the new code', async ({ browser, sesame }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${WEB}/login`);
  const before = codes(sesame).length;
  await signIn(page, 'resend');
  const first = await nextCode(sesame, before);
  // The demo keeps the guide's 30 s between two codes of one sign-in.
  check((await page.textContent('body')).includes('You can ask for a new code in'), 'the cooldown is shown');
  await shot(page, 'otp-cooldown');
  // Five codes per run: the demo allows a user six an hour (resend_attempts 5 + 1).
  await new Promise((r) => setTimeout(r, 32_000));
  const sent = codes(sesame).length;
  await page.click('button[name=action][value=resend]');
  const second = await nextCode(sesame, sent);
  check(second !== first, 'the new code differs from the first');
  await shot(page, 'otp-resent');
  await enterCode(page, first);
  await page.locator('p.error[role=alert]').waitFor();
  await shot(page, 'otp-old-code-refused');
  await enterCode(page, second);
  await page.waitForURL(`${WEB}/`);
  check((await page.textContent('#claims')).includes('"sms"'), 'signed in with the new code');
  await context.close();
});

// 4. Sign-out, then a silent sign-in fails.
scenario('web app: sign-out, then prompt=none fails', async ({ state }) => {
  check(state.web, 'needs the signed-in browser of the first scenario, which failed');
  const { context, page } = state.web;
  await page.click('#sign-out');
  await page.waitForURL((u) => u.toString().startsWith(`${WEB}/?state=`));
  await page.waitForSelector('#sign-in');
  await shot(page, 'web-signed-out-again');
  await page.goto(`${WEB}/login?prompt=none`);
  await page.waitForSelector('#error');
  check((await page.textContent('#error')).includes('login_required'), 'login_required after sign-out');
  await shot(page, 'web-prompt-none-after-sign-out');
  await context.close();
});

// 5. The SPA with a backup code instead of the text message.
scenario('SPA: password + backup code, claims, UserInfo, sign-out', async ({ browser, state }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(SPA);
  await page.waitForSelector('#sign-in');
  await shot(page, 'spa-signed-out');
  await page.click('#sign-in');
  await signIn(page, 'spa');
  await page.click('a[href*="/backup-code"]');
  await page.waitForURL(/\/t\/demo\/backup-code\?tx=/);
  await shot(page, 'spa-backup-code');
  await page.fill('#code', state.backupCodes[0]);
  await page.click('form button[type=submit]');
  await page.waitForSelector('#claims');
  const claims = JSON.parse(await page.textContent('#claims'));
  check(JSON.stringify(claims.amr) === JSON.stringify(['pwd', 'otp', 'mfa']), `amr ${JSON.stringify(claims.amr)}`);
  await page.waitForFunction(() => document.querySelector('#userinfo')?.textContent.includes('alice@example.com'));
  await shot(page, 'spa-signed-in');
  await page.click('#sign-out');
  await page.waitForSelector('#signed-out');
  await page.waitForSelector('#sign-in');
  await shot(page, 'spa-signed-out-again');
  await context.close();
});

// 6. The sign-in page on a phone-sized screen.
scenario('the sign-in page on a phone', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(`${WEB}/login`);
  await page.waitForURL(/\/t\/demo\/login\?tx=/);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  await shot(page, 'phone-sign-in');
  await context.close();
});

// 7. An authenticator app: set up in the account area, then the second step of a sign-in (the
// step opens on the factor used last), then removed. One SMS code: the demo allows six an hour
// and the scenarios above use five.
scenario('account area: set up an authenticator app, sign in with it, remove it', async ({ browser, sesame }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${WEB}/login`);
  const before = codes(sesame).length;
  await signIn(page, 'totp');
  await enterCode(page, await nextCode(sesame, before));
  await page.waitForURL(`${WEB}/`);
  // The pass through the chain just made is fresh: the account area allows changes.
  await page.goto(`${SESAME}/t/demo/account/`);
  check((await page.textContent('body')).includes('You have no authenticator app set up.'), 'no app yet');
  await shot(page, 'account');
  await page.click('button[name=action][value=begin]');
  await page.waitForSelector('#qr svg');
  const secret = (await page.textContent('#secret')).replace(/\s/g, '');
  check(secret.length === 32, `a 160-bit secret, got ${secret}`);
  await shot(page, 'totp-setup');
  await page.fill('#code', totp(secret));
  await page.click('form button[type=submit]');
  await page.waitForURL(/\/account\/\?changed=credential_added/);
  check((await page.textContent('body')).includes('Your authenticator app was added.'), 'the app is saved');
  await shot(page, 'account-with-totp');

  const other = await browser.newContext();
  const second = await other.newPage();
  await second.goto(`${WEB}/login`);
  const sent = codes(sesame).length;
  await signIn(second, 'totp-sign-in', /\/t\/demo\/code\?tx=/);
  check((await second.textContent('h1')).includes('authenticator app'), 'the code page names the app');
  check(await second.locator('a[href*="/otp?tx="]').count() === 1, 'the SMS code is offered instead');
  await shot(second, 'totp-code');
  // The setup's code was spent with it: the next time step's code (within the drift allowed).
  await second.fill('#code', totp(secret, Date.now() / 1000 + 30));
  await second.click('form button[type=submit]');
  await second.waitForURL(`${WEB}/`);
  const claims = JSON.parse(await second.textContent('#claims'));
  check(JSON.stringify(claims.amr) === JSON.stringify(['pwd', 'otp', 'mfa']), `amr ${JSON.stringify(claims.amr)}`);
  check(codes(sesame).length === sent, 'no text message was sent');
  await other.close();

  await page.goto(`${SESAME}/t/demo/account/`);
  await page.click('#credentials button[name=action][value=remove]');
  await page.waitForURL(/\/account\/\?changed=credential_removed/);
  check((await page.textContent('body')).includes('You have no authenticator app set up.'), 'removed');
  await shot(page, 'account-totp-removed');
  await context.close();
});

// 8. The SPA with a code by email instead of the text message (late: by now alice's text messages
// may be at the demo's hourly limit, and the email code does not need one).
scenario('SPA: password + a code by email instead of the text message', async ({ browser, sesame }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(SPA);
  await page.waitForSelector('#sign-in');
  await page.click('#sign-in');
  await signIn(page, 'spa-email');
  const before = emailCodes(sesame).length;
  const other = page.locator('section.other-ways a', { hasText: 'Email me a code instead' });
  check(await other.count() === 1, 'the SMS page offers a code by email');
  await other.click();
  await page.waitForURL(/\/t\/demo\/sent-code\?tx=.*factor=email_otp/);
  check((await page.textContent('h1')).includes('Enter the email code'), 'the email code page says what it wants');
  check((await page.textContent('main')).includes('a•••@example.com'), 'the address is shown masked');
  check(await page.locator('label[for=code]').count() === 1, 'the code field has a label');
  check(await page.locator('a', { hasText: 'Use a code sent by text message instead' }).count() === 1, 'the text message is offered back');
  await shot(page, 'spa-email-code');
  const code = await waitFor('an email code', () => emailCodes(sesame).length > before && emailCodes(sesame).at(-1), 10);
  await page.fill('#code', code);
  await page.click('form button[type=submit]:not([name])');
  await page.waitForSelector('#claims');
  const claims = JSON.parse(await page.textContent('#claims'));
  check(JSON.stringify(claims.amr) === JSON.stringify(['pwd', 'otp', 'email', 'mfa']), `amr ${JSON.stringify(claims.amr)}`);
  await shot(page, 'spa-email-signed-in');
  await page.click('#sign-out');
  await page.waitForSelector('#signed-out');
  await context.close();
});

/** The last link to `path` the console mailer printed in a mail to `address`. */
function mailedLink(sesame, address, path) {
  const mails = sesame.out.split(`=== Email to ${address}`).slice(1).map((m) => m.split('\n===\n')[0]);
  const links = mails.map((m) => m.match(new RegExp(`http://\\S+${path}\\?token=[A-Za-z0-9_-]+`))).filter(Boolean);
  return links.length > 0 && links.at(-1)[0];
}

/** Signs carol in on the SPA's sign-in page with `password`, then with a code by email (she has
 * no number); waits for the SPA's claims. */
async function carolSignsIn(page, sesame, password) {
  await page.waitForURL(/\/t\/demo\/login\?tx=/);
  await page.fill('#username', 'carol');
  await page.fill('#password', password);
  await page.click('form[action$="/login"] button[type=submit]');
  await page.waitForURL(/\/t\/demo\/otp\?tx=/);
  // The demo adds numbers in the account area only: the step offers the code by email.
  check((await page.textContent('main')).includes('no verified mobile number'), 'carol has no number');
  const before = emailCodes(sesame, 'carol@example.com').length;
  await page.click('a:has-text("Email me a code instead")');
  await page.waitForURL(/\/t\/demo\/sent-code\?tx=.*factor=email_otp/);
  const code = await waitFor('carol\'s email code', () => emailCodes(sesame, 'carol@example.com').length > before && emailCodes(sesame, 'carol@example.com').at(-1), 10);
  await page.fill('#code', code);
  await page.click('form button[type=submit]:not([name])');
  await page.waitForSelector('#claims');
  return JSON.parse(await page.textContent('#claims'));
}

// 9. Self-registration on the SPA: the form, the link from the console mailer, the account
// created, its first sign-in (the password, then a code by email: no number yet); then
// "Forgot your password?": the reset link, the new password, and a sign-in with it.
scenario('SPA: a new user registers, signs in, then resets her password', async ({ browser, sesame }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(SPA);
  await page.waitForSelector('#sign-in');
  await page.click('#sign-in');
  await page.waitForURL(/\/t\/demo\/login\?tx=/);
  await page.click('a:has-text("Create an account")');
  await page.waitForURL(/\/t\/demo\/register\?tx=/);
  check((await page.textContent('h1')).includes('Create an account'), 'the registration form');
  for (const field of ['username', 'email', 'password', 'confirm']) {
    check(await page.locator(`label[for=${field}]`).count() === 1, `the ${field} field has a label`);
  }
  await page.fill('#username', 'carol');
  await page.fill('#email', 'carol@example.com');
  await page.fill('#password', 'a new place to start, 2027');
  await page.fill('#confirm', 'a new place to start, 2027');
  await shot(page, 'register');
  await page.click('form button[type=submit]');
  await page.waitForSelector('text=Check your email');
  await shot(page, 'register-sent');
  const link = await waitFor('the registration link', () => mailedLink(sesame, 'carol@example.com', '/register/link'), 10);
  await page.goto(link);
  check((await page.textContent('h1')).includes('Your account is ready'), 'the account is created');
  await shot(page, 'register-done');
  await page.click('a:has-text("Continue signing in")');
  let claims = await carolSignsIn(page, sesame, 'a new place to start, 2027');
  await page.waitForFunction(() => document.querySelector('#userinfo')?.textContent.includes('carol@example.com'));
  check(JSON.stringify(claims.amr) === JSON.stringify(['pwd', 'otp', 'email', 'mfa']), `amr ${JSON.stringify(claims.amr)}`);
  await page.click('#sign-out');
  await page.waitForSelector('#signed-out');

  // She forgets it: "Forgot your password?" under the password form.
  await page.click('#sign-in');
  await page.waitForURL(/\/t\/demo\/login\?tx=/);
  await page.click('a:has-text("Forgot your password?")');
  await page.waitForSelector('h1:has-text("Reset your password")');
  check(await page.locator('label[for=identifier]').count() === 1, 'the identifier field has a label');
  await page.fill('#identifier', 'carol@example.com');
  await shot(page, 'reset-ask');
  await page.click('button:has-text("Email me a reset link")');
  await page.waitForSelector('text=Check your email');
  await shot(page, 'reset-sent');
  const reset = await waitFor('the reset link', () => mailedLink(sesame, 'carol@example.com', '/password-reset/link'), 10);
  await page.goto(reset);
  await page.waitForURL(/\/t\/demo\/password-reset\/new\?tx=/);
  check((await page.textContent('h1')).includes('Choose a new password'), 'the new password form');
  check(await page.locator('label[for=password]').count() === 1 && await page.locator('label[for=confirm]').count() === 1, 'the password fields have labels');
  await page.fill('#password', 'remembered this time, 2027');
  await page.fill('#confirm', 'remembered this time, 2027');
  await shot(page, 'reset-new-password');
  await page.click('button:has-text("Save my new password")');
  await page.waitForSelector('text=Your new password is saved');
  await shot(page, 'reset-done');
  await page.click('a:has-text("Continue signing in")');
  claims = await carolSignsIn(page, sesame, 'remembered this time, 2027');
  await page.waitForFunction(() => document.querySelector('#userinfo')?.textContent.includes('carol@example.com'));
  check(JSON.stringify(claims.amr) === JSON.stringify(['pwd', 'otp', 'email', 'mfa']), `amr after the reset ${JSON.stringify(claims.amr)}`);
  await page.click('#sign-out');
  await page.waitForSelector('#signed-out');
  await context.close();
});

/** The email codes the console mailer printed so far to `address` in German, oldest first. */
function germanEmailCodes(sesame, address) {
  const to = address.replaceAll('.', '\\.');
  return [...sesame.out.matchAll(new RegExp(`=== Email to ${to}[^\\n]*\\nSubject: Ihr Anmeldecode[^\\n]*\\n[\\s\\S]*?\\n {4}([0-9]{6})\\n`, 'g'))].map((m) => m[1]);
}

// 10. In German: a browser asking for German (Accept-Language) gets every page in it — the
// sign-in page and its error, the code step and the code's mail, the account area with its times
// in words; dora registering (the form, the mail, the account ready); carol resetting her
// password (the ask, the mail, the new password, done); an error page.
scenario('in German: sign-in, an error, the email code, the account area, registration, reset', async ({ browser, sesame }) => {
  const context = await browser.newContext({ locale: 'de-DE' });
  const page = await context.newPage();
  await page.goto(SPA);
  await page.waitForSelector('#sign-in');
  await page.click('#sign-in');
  await page.waitForURL(/\/t\/demo\/login\?tx=/);
  check(await page.locator('html[lang=de]').count() === 1, 'the page says it is German');
  check((await page.textContent('h1')).includes('anmelden'), 'the title is German');
  check(await page.locator('label[for=username]', { hasText: 'Benutzername' }).count() === 1, 'the labels are German');
  await shot(page, 'de-sign-in');
  await page.fill('#username', 'carol');
  await page.fill('#password', 'not her password');
  await page.click('form[action$="/login"] button[type=submit]');
  await page.waitForSelector('text=Benutzername oder Passwort ist falsch.');
  await shot(page, 'de-wrong-password');
  await page.fill('#password', 'remembered this time, 2027');
  await page.click('form[action$="/login"] button[type=submit]');
  await page.waitForURL(/\/t\/demo\/otp\?tx=/);
  check((await page.textContent('main')).includes('keine bestätigte Mobilnummer'), 'the code step is German');
  await shot(page, 'de-otp-no-number');
  const before = germanEmailCodes(sesame, 'carol@example.com').length;
  await page.click('a:has-text("Stattdessen einen Code per E-Mail senden")');
  await page.waitForURL(/\/t\/demo\/sent-code\?tx=.*factor=email_otp/);
  const code = await waitFor('carol\'s German email code', () => germanEmailCodes(sesame, 'carol@example.com').length > before && germanEmailCodes(sesame, 'carol@example.com').at(-1), 10);
  await shot(page, 'de-email-code');
  await page.fill('#code', code);
  await page.click('form button[type=submit]:not([name])');
  await page.waitForSelector('#claims');

  // The account area: the sessions' times in words, never a UTC date.
  await page.goto(`${SESAME}/t/demo/account/`);
  const account = await page.textContent('main');
  check(account.includes('Wo Sie angemeldet sind'), 'the account area is German');
  check(/angemeldet (gerade eben|vor \d+ (Sekunden?|Minuten?))/.test(account), `times in words: ${account}`);
  check(!account.includes('UTC'), 'no raw UTC time');
  await shot(page, 'de-account');

  // Registration and reset, from a new sign-in's page.
  await page.goto(SPA);
  await page.waitForSelector('#sign-out');
  await page.click('#sign-out');
  await page.waitForSelector('#signed-out');
  await page.click('#sign-in');
  await page.waitForURL(/\/t\/demo\/login\?tx=/);
  await page.click('a:has-text("Konto erstellen")');
  await page.waitForURL(/\/t\/demo\/register\?tx=/);
  check((await page.textContent('h1')).includes('Konto erstellen'), 'the registration form is German');
  await page.fill('#username', 'dora');
  await page.fill('#email', 'dora@example.com');
  await page.fill('#password', 'ein neuer Anfang, 2027');
  await page.fill('#confirm', 'ein neuer Anfang, 2027');
  await shot(page, 'de-register');
  await page.click('form button[type=submit]');
  await page.waitForSelector('h1:has-text("Prüfen Sie Ihre E-Mails")');
  await shot(page, 'de-register-sent');
  const registered = await waitFor('dora\'s registration link', () => mailedLink(sesame, 'dora@example.com', '/register/link'), 10);
  check(/Subject: Erstellung Ihres Kontos bei Sesame demo abschließen/.test(sesame.out), 'the registration mail is German');
  await page.goto(registered);
  await page.waitForSelector('h1:has-text("Ihr Konto ist bereit")');
  await shot(page, 'de-register-done');

  // carol resets her password in German: the ask, the mail, the new password, done.
  await page.click('a:has-text("Weiter zur Anmeldung")');
  await page.waitForURL(/\/t\/demo\/login\?tx=/);
  await page.click('a:has-text("Passwort vergessen?")');
  await page.waitForSelector('h1:has-text("Passwort zurücksetzen")');
  await page.fill('#identifier', 'carol');
  await shot(page, 'de-reset-ask');
  await page.click('button:has-text("Link zum Zurücksetzen per E-Mail senden")');
  await page.waitForSelector('h1:has-text("Prüfen Sie Ihre E-Mails")');
  const reset = await waitFor('carol\'s German reset link', () => {
    const link = mailedLink(sesame, 'carol@example.com', '/password-reset/link');
    return link && sesame.out.includes('Subject: Ihr Passwort für Sesame demo zurücksetzen') && link;
  }, 10);
  await page.goto(reset);
  await page.waitForURL(/\/t\/demo\/password-reset\/new\?tx=/);
  check((await page.textContent('h1')).includes('Neues Passwort wählen'), 'the new password form is German');
  await page.fill('#password', 'auf Deutsch gemerkt, 2027');
  await page.fill('#confirm', 'auf Deutsch gemerkt, 2027');
  await shot(page, 'de-reset-new-password');
  await page.click('button:has-text("Mein neues Passwort speichern")');
  await page.waitForSelector('h1:has-text("Ihr neues Passwort ist gespeichert")');
  await shot(page, 'de-reset-done');
  // A link that is not one: a readable German error page.
  const res = await page.goto(`${SESAME}/t/demo/register/link?token=not-a-real-token`);
  check(res.status() === 400, `a bad link answers 400, got ${res.status()}`);
  check(await page.locator('html[lang=de]').count() === 1, 'the error page is German');
  await shot(page, 'de-error');
  await context.close();
});

/** A virtual platform authenticator (Chromium's WebAuthn testing API) for `page`'s tab: it
 * keeps discoverable keys and verifies the user (as a fingerprint would) without a prompt. */
async function virtualAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      ctap2Version: 'ctap2_1',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

// 9. A passkey: added in the account area (after a pass through the chain with a backup code:
// the demo's hourly text messages are used up by now), then the second step of a sign-in in
// another browser holding the same key, then a sign-in with the passkey alone in a third, then
// removed.
scenario('account area: add a passkey, sign in with it after the password and on its own, remove it', async ({ browser, state }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const device = await virtualAuthenticator(context, page);
  await page.goto(`${WEB}/login`);
  await signIn(page, 'passkey');
  await page.click('section.other-ways a:has-text("Use a backup code instead")');
  await page.waitForURL(/\/t\/demo\/backup-code\?tx=/);
  await page.fill('#code', state.backupCodes[1]);
  await page.click('form button[type=submit]');
  await page.waitForURL(`${WEB}/`);
  await page.goto(`${SESAME}/t/demo/account/`);
  check((await page.textContent('body')).includes('You have no passkey.'), 'no passkey yet');
  await page.click('button[name=action][value=begin]:has-text("Add a passkey")');
  await page.waitForSelector('#passkey-form[data-ceremony=create]');
  await page.fill('#name', 'Test laptop');
  await shot(page, 'passkey-add');
  await page.click('#passkey-button');
  await page.waitForURL(/\/account\/\?changed=key_added/);
  check((await page.textContent('#passkeys')).includes('Test laptop'), 'the passkey is listed by its name');
  await shot(page, 'account-with-passkey');
  const { credentials } = await device.cdp.send('WebAuthn.getCredentials', { authenticatorId: device.authenticatorId });
  check(credentials.length === 1 && credentials[0].isResidentCredential, 'one discoverable key on the device');
  check(credentials[0].rpId === 'localhost', `bound to the base URL's host, got ${credentials[0].rpId}`);

  // Another browser with the same key (copied onto its own virtual authenticator).
  const other = await browser.newContext();
  const second = await other.newPage();
  const copy = await virtualAuthenticator(other, second);
  await copy.cdp.send('WebAuthn.addCredential', { authenticatorId: copy.authenticatorId, credential: credentials[0] });
  await second.goto(`${WEB}/login`);
  await signIn(second, 'passkey-sign-in', /\/t\/demo\/passkey\?tx=/);
  check((await second.textContent('h1')).includes('Use your passkey'), 'the step opens on the passkey added last');
  check(await second.locator('a[href*="/otp?tx="]').count() === 1, 'the SMS code is offered instead');
  await shot(second, 'passkey-step');
  await second.click('#passkey-button');
  await second.waitForURL(`${WEB}/`);
  const claims = JSON.parse(await second.textContent('#claims'));
  check(JSON.stringify(claims.amr) === JSON.stringify(['pwd', 'swk', 'user', 'mfa']), `amr ${JSON.stringify(claims.amr)}`);
  // The key as this browser left it: its signature counter moved on (a copy of the older state
  // would be refused as a cloned key).
  const { credentials: used } = await copy.cdp.send('WebAuthn.getCredentials', { authenticatorId: copy.authenticatorId });
  check(used[0].signCount > credentials[0].signCount, 'the counter moved on');
  await other.close();

  // A third browser: the passkey alone, from the sign-in page (no username, no code).
  const third = await browser.newContext();
  const alone = await third.newPage();
  const copy2 = await virtualAuthenticator(third, alone);
  await copy2.cdp.send('WebAuthn.addCredential', { authenticatorId: copy2.authenticatorId, credential: used[0] });
  await alone.goto(`${WEB}/login`);
  await alone.waitForURL(/\/t\/demo\/login\?tx=/);
  const button = alone.locator('#passkey-button', { hasText: 'Sign in with a passkey' });
  check(await button.count() === 1, 'the sign-in page offers a passkey');
  await shot(alone, 'passkey-alone-sign-in');
  await button.click();
  await alone.waitForURL(`${WEB}/`);
  const aloneClaims = JSON.parse(await alone.textContent('#claims'));
  check(JSON.stringify(aloneClaims.amr) === JSON.stringify(['swk', 'user', 'mfa']), `amr ${JSON.stringify(aloneClaims.amr)}`);
  check(aloneClaims.acr === 'urn:sesame:acr:mfa', `acr ${aloneClaims.acr}`);
  await third.close();

  await page.goto(`${SESAME}/t/demo/account/`);
  check((await page.textContent('#passkeys')).includes('last used'), 'the last use is shown');
  await page.click('#passkeys button[name=action][value=remove]');
  await page.waitForURL(/\/account\/\?changed=credential_removed/);
  check((await page.textContent('body')).includes('You have no passkey.'), 'removed');
  await context.close();
});

// 10. Enrollment during sign-in: bob has no second factor, and the demo organization enrolls
// passkeys during sign-in. demo-web's second step opens on the SMS page (he has no number), which
// offers to create a passkey instead; created, it passes the step.
scenario('sign-in: a user without a second factor creates a passkey on the way', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await virtualAuthenticator(context, page);
  await page.goto(`${WEB}/login`);
  await page.waitForURL(/\/t\/demo\/login\?tx=/);
  await page.fill('#username', 'bob');
  await page.fill('#password', PASSWORD);
  await page.click('form[action$="/login"] button[type=submit]');
  await page.waitForURL(/\/t\/demo\/otp\?tx=/);
  check((await page.textContent('main')).includes('no verified mobile number'), 'bob has no number');
  await page.click('a:has-text("Create a passkey instead")');
  await page.waitForURL(/\/t\/demo\/passkey\?tx=/);
  check((await page.textContent('h1')).includes('Create a passkey'), 'the step asks for a new passkey');
  check(await page.locator('label[for=name]').count() === 1, 'the name field has a label');
  await page.fill('#name', 'Bob laptop');
  await shot(page, 'passkey-create-during-sign-in');
  await page.click('#passkey-button');
  await page.waitForURL(`${WEB}/`);
  const claims = JSON.parse(await page.textContent('#claims'));
  check(JSON.stringify(claims.amr) === JSON.stringify(['pwd', 'swk', 'user', 'mfa']), `amr ${JSON.stringify(claims.amr)}`);
  await page.goto(`${SESAME}/t/demo/account/`);
  check((await page.textContent('#passkeys')).includes('Bob laptop'), 'the passkey is his now');
  await shot(page, 'account-bob-passkey');
  await context.close();
});

// 11. The web console, as the demo administrator: signs in with an SMS code, changes the SMS OTP
// settings, takes demo-web to the password alone and back to password + SMS OTP (the next
// sign-in asks for a code), unlocks a locked user, sends a test message, rotates a key, reads
// the audit log; a screenshot of every page. Last: it changes the demo's settings.
const ADMIN_PHONE = '+14155550101';

/** Signs in to Sesame's sign-in page as `username` with `password`, and waits for what follows. */
async function passwordOnly(page, username, password) {
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('form[action$="/login"] button[type=submit]');
  await page.waitForLoadState();
}

scenario('console: the demo administrator manages the demo organization', async ({ browser, sesame }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleUrl = `${SESAME}/console`;
  await page.goto(`${consoleUrl}/`);
  await page.waitForURL(/\/t\/admin\/login\?tx=/);
  check((await page.textContent('body')).includes('Administration'), 'the administration organization signs in');
  await shot(page, 'console-sign-in');
  const before = codes(sesame, ADMIN_PHONE).length;
  await passwordOnly(page, 'admin', 'demo-admin-password');
  await page.waitForURL(/\/t\/admin\/otp\?tx=/);
  const code = await waitFor('the administrator\'s code', () => codes(sesame, ADMIN_PHONE).length > before && codes(sesame, ADMIN_PHONE).at(-1), 10);
  await shot(page, 'console-otp');
  await enterCode(page, code);
  await page.waitForURL(`${consoleUrl}/`);
  check((await page.textContent('header')).includes('Signed in as admin'), 'the header names the administrator');
  await shot(page, 'console-home');

  await page.click('a[href$="/o/demo/"]');
  await page.waitForURL(`${consoleUrl}/o/demo/`);
  await shot(page, 'console-organization');

  // Connections → SMS OTP: a refused value beside its field, then a change saved.
  await page.click('nav.tabs a[href$="/sms-otp"]');
  await page.waitForURL(`${consoleUrl}/o/demo/sms-otp`);
  await shot(page, 'console-sms-otp');
  await page.fill('#length', '3');
  await page.click('form[action$="/sms-otp"] button[type=submit]');
  await page.waitForSelector('#length-error');
  check(await page.getAttribute('#length', 'aria-invalid') === 'true', 'the refused field is marked');
  await shot(page, 'console-sms-otp-refused');
  await page.fill('#length', '6');
  await page.fill('#expiry_seconds', '240');
  // Eight resends: alice's texts an hour (resend attempts + 1) rise from the six the scenarios
  // above used to nine, so the sign-in below gets its code.
  await page.fill('#resend_attempts', '8');
  await page.click('form[action$="/sms-otp"] button[type=submit]');
  await page.waitForURL(/\/sms-otp\?saved=1/);
  check(await page.inputValue('#expiry_seconds') === '240', 'the new expiry is shown');
  await shot(page, 'console-sms-otp-saved');

  // Applications → demo-web → Sign-in Method: the password alone, then SMS OTP added.
  await page.click('nav.tabs a[href$="/applications"]');
  await page.waitForURL(`${consoleUrl}/o/demo/applications`);
  await shot(page, 'console-applications');
  await page.click('a[href$="/applications/demo-web"]');
  await page.waitForURL(`${consoleUrl}/o/demo/applications/demo-web`);
  await shot(page, 'console-sign-in-method');
  await page.click('button[name=action][value=password]');
  await page.waitForURL(/\/applications\/demo-web\?saved=1/);
  check(await page.locator('ol.flow > li.step').count() === 1, 'one step left');
  await shot(page, 'console-sign-in-method-password-only');
  const user = await browser.newContext();
  const web = await user.newPage();
  await web.goto(`${WEB}/login`);
  await signIn(web, 'web-password-only', `${WEB}/`);
  let claims = JSON.parse(await web.textContent('#claims'));
  check(JSON.stringify(claims.amr) === JSON.stringify(['pwd']), `amr ${JSON.stringify(claims.amr)}`);
  await user.close();

  // A user locked by failed passwords is unlocked from the Users tab.
  const locked = await browser.newContext();
  const victim = await locked.newPage();
  await victim.goto(`${WEB}/login`);
  await victim.waitForURL(/\/t\/demo\/login\?tx=/);
  for (let i = 0; i < 6 && !(await victim.textContent('body')).includes('locked'); i += 1) {
    await passwordOnly(victim, 'bob', 'not-his-password');
  }
  check((await victim.textContent('body')).includes('This account is locked'), 'bob is locked out');
  await shot(victim, 'web-bob-locked');
  await page.click('nav.tabs a[href$="/users"]');
  await page.waitForURL(`${consoleUrl}/o/demo/users`);
  await shot(page, 'console-users');
  await page.fill('#q', 'bo');
  await page.click('form[role=search] button[type=submit]');
  await page.waitForURL(/\/users\?q=bo/);
  await page.locator('table a', { hasText: 'bob' }).click();
  await page.waitForURL(/\/o\/demo\/users\/[0-9a-f-]+$/);
  check((await page.textContent('#lock')).includes('Locked until'), 'the lock is shown');
  await shot(page, 'console-user-locked');
  await page.click('button[name=action][value=unlock]');
  await page.waitForURL(/\?done=unlock/);
  check((await page.textContent('#lock')).includes('Not locked'), 'unlocked');
  await shot(page, 'console-user-unlocked');
  await locked.close();
  const again = await browser.newContext();
  const bob = await again.newPage();
  await bob.goto(`${WEB}/login`);
  await bob.waitForURL(/\/t\/demo\/login\?tx=/);
  await passwordOnly(bob, 'bob', PASSWORD);
  await bob.waitForURL(`${WEB}/`);
  check((await bob.textContent('#claims')).includes('"pwd"'), 'bob signs in again');
  await again.close();

  // SMS OTP added back as the second factor: the next sign-in asks for a code.
  await page.goto(`${consoleUrl}/o/demo/applications/demo-web`);
  await page.check('#backup_codes');
  await page.click('button[name=action][value=sms_otp] >> nth=0');
  await page.waitForURL(/\/applications\/demo-web\?saved=1/);
  check(await page.locator('ol.flow > li.step').count() === 2, 'two steps');
  await shot(page, 'console-sign-in-method-sms-otp-added');
  const next = await browser.newContext();
  const asked = await next.newPage();
  await asked.goto(`${WEB}/login`);
  const sent = codes(sesame).length;
  await signIn(asked, 'web-after-console');
  await shot(asked, 'web-asked-for-a-code-after-console');
  await enterCode(asked, await nextCode(sesame, sent));
  await asked.waitForURL(`${WEB}/`);
  claims = JSON.parse(await asked.textContent('#claims'));
  check(claims.amr.includes('sms') && claims.amr.includes('mfa'), `amr ${JSON.stringify(claims.amr)}`);
  await next.close();

  // The SMS channel and its test message (the demo's console channel prints it).
  await page.click('nav.tabs a[href$="/sms-channel"]');
  await page.waitForURL(`${consoleUrl}/o/demo/sms-channel`);
  await shot(page, 'console-sms-channel');
  const printed = sesame.out.length;
  await page.fill('#phone_number', '+1 415 555 0100');
  await page.click('form[action$="/sms-channel/test"] button[type=submit]');
  await page.waitForSelector('p.notice[role=status]');
  check((await page.textContent('p.notice')).includes('A test message went to'), 'the test message went');
  await waitFor('the test message printed', () => sesame.out.slice(printed).includes('your SMS gateway works'), 10);
  await shot(page, 'console-sms-channel-test-sent');

  await page.click('nav.tabs a[href$="/webhooks"]');
  await page.waitForURL(`${consoleUrl}/o/demo/webhooks`);
  await shot(page, 'console-webhooks');

  await page.click('nav.tabs a[href$="/keys"]');
  await page.waitForURL(`${consoleUrl}/o/demo/keys`);
  await shot(page, 'console-keys');
  await page.selectOption('#alg', 'ES256');
  await page.click('form[action$="/keys/rotate"] button[type=submit]');
  await page.waitForURL(/\/keys\?done=rotated/);
  await shot(page, 'console-keys-rotated');

  // The audit log holds each change, by the administrator, through the console.
  await page.click('nav.tabs a[href$="/audit"]');
  await page.waitForURL(`${consoleUrl}/o/demo/audit`);
  const log = await page.textContent('main');
  for (const action of ['organization.update', 'application.update', 'user.unlock', 'sms.test_message', 'key.rotate']) {
    check(log.includes(action), `the audit log has ${action}`);
  }
  check(log.includes('admin') && log.includes('(console'), 'who and through what');
  await shot(page, 'console-audit');

  await page.click('header button[type=submit]');
  await page.waitForLoadState();
  await shot(page, 'console-signed-out');
  await page.goto(`${consoleUrl}/`);
  await page.waitForURL(/\/t\/admin\/login\?tx=/);
  await context.close();
});

async function main() {
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'sesame-e2e-'));
  const procs = [];
  let failed = 0;
  let browser;
  try {
    const sesame = new Proc('sesame', SESAME_BIN, ['serve', '--demo'], {
      cwd: dir,
      env: { ...process.env, SESAME_LOG: 'warn' },
    });
    procs.push(sesame);
    await waitFor('Sesame', () => sesame.out.includes('DEMO MODE') && up(`${SESAME}/readyz`));
    const line = sesame.out.match(/backup codes\s+([a-z0-9-][a-z0-9 -]+?) \(each works once/);
    check(line, 'the banner shows the backup codes');
    const backupCodes = line[1].trim().split(/\s+/);
    const web = new Proc('sample_web', WEB_BIN, [], { env: { ...process.env } });
    const spa = new Proc('sample_spa', 'node', [join(ROOT, 'examples', 'sample_spa', 'serve.mjs')], {
      cwd: join(ROOT, 'examples', 'sample_spa'),
      env: { ...process.env },
    });
    procs.push(web, spa);
    await up(WEB);
    await up(SPA);
    // Something stale on a fixed port would answer in their place: they must still be running.
    for (const p of [sesame, web, spa]) check(p.running(), `${p.name} exited (is its port taken?)`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const state = { backupCodes };
    for (const s of scenarios) {
      console.log(`- ${s.name}`);
      try {
        await s.fn({ browser, sesame, state });
        console.log('  ok');
      } catch (e) {
        failed += 1;
        console.log(`  FAILED: ${e.stack || e}`);
      }
    }
  } catch (e) {
    failed += 1;
    console.log(`setup FAILED: ${e.stack || e}`);
  } finally {
    if (browser) await browser.close();
    await Promise.all(procs.map((p) => p.stop()));
    if (failed || process.env.E2E_VERBOSE) {
      for (const p of procs) console.log(`\n--- output of ${p.name} ---\n${p.out.slice(-4000)}`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n${scenarios.length - failed} of ${scenarios.length} scenarios passed; screenshots in ${SHOTS}`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
