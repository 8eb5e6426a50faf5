// Conformance probe: a scripted OpenID Connect authorization code flow against Sesame, with the
// protocol work done by openid-client (panva) and its strict checks on.
//
// Prints one line per check (`PASS <name>` or `FAIL <name>: <reason>`) and, as its last line, a JSON
// summary. Exits 0 only if every check passed. Inputs come from the environment (no defaults):
// ISSUER, CA_FILE, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_REDIRECT_URI, USERNAME,
// PASSWORD. See ../README.md.
//
// What openid-client checks by itself here: discovery (the document's `issuer` equals ISSUER), the
// authorization response (`state`, and `iss` as RFC 9207 requires since the server advertises
// authorization_response_iss_parameter_supported), PKCE, the ID token (signature against the JWKS,
// enabled with enableNonRepudiationChecks; alg, iss, aud, azp, exp, iat, nonce), HTTPS only, and the
// UserInfo `sub` against the ID token's. The probe adds: amr, at_hash (openid-client does not check
// it in the code flow), the claims' values, the refreshed ID token's `sub`, code replay, logout.

import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';

const PROBE = 'openid-client';
const SCOPE = 'openid profile email phone address';
const EXPECTED_EMAIL = 'conformance-user@sesame.example';
const EXPECTED_NAME = 'Connie Formance';
const TIMEOUT_MS = 15000;

// Every check the probe makes, in order: one that could not run (an earlier step failed) is
// reported as failed, so the totals are the same on every run.
const PLAN = [
  'config',
  'discovery',
  'authorization-url',
  'sign-in',
  'code-exchange',
  'id-token-sub',
  'id-token-amr-pwd',
  'id-token-at-hash',
  'userinfo',
  'userinfo-email',
  'userinfo-name',
  'refresh',
  'refresh-id-token-sub',
  'refresh-userinfo',
  'code-replay-first-exchange',
  'code-replay-invalid-grant',
  'code-replay-revokes-access-token',
  'code-replay-revokes-refresh-token',
  'logout-precondition',
  'logout-redirect',
  'logout-revokes-access-token',
  'logout-ends-session',
];

const results = new Map();

function record(name, ok, detail) {
  if (!PLAN.includes(name)) throw new Error(`unplanned check ${name}`);
  results.set(name, { name, ok, detail });
  console.log(ok ? `PASS ${name}` : `FAIL ${name}: ${oneLine(detail)}`);
}

function oneLine(detail) {
  const s = typeof detail === 'string' ? detail : JSON.stringify(detail);
  return (s ?? '').replace(/\s+/g, ' ').trim();
}

/** A readable account of an error from openid-client (it nests causes). */
function describe(err) {
  const parts = [];
  let e = err;
  for (let depth = 0; e && depth < 5; depth++) {
    if (Array.isArray(e)) {
      // WWW-Authenticate challenges: [{ scheme, parameters }]
      parts.push(e.map((c) => `${c.scheme} ${JSON.stringify(c.parameters ?? {})}`).join(', '));
      break;
    }
    if (e instanceof Error || typeof e === 'object') {
      const bits = [e.name, e.code, e.message].filter(Boolean);
      if (e.error) bits.push(`error=${e.error}`);
      if (e.error_description) bits.push(`error_description=${e.error_description}`);
      if (e.status) bits.push(`status=${e.status}`);
      if (bits.length) parts.push(bits.join(' '));
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(' <- ');
}

/** Thrown by a check that fails: its message is the reason. */
class Failure extends Error {}

function expect(cond, reason) {
  if (!cond) throw new Failure(reason);
}

/** Runs a check: its function returns the detail of a pass, or throws. True if it passed. */
async function check(name, fn) {
  try {
    const detail = await fn();
    record(name, true, detail ?? null);
    return true;
  } catch (err) {
    record(name, false, err instanceof Failure ? err.message : describe(err));
    return false;
  }
}

function finish() {
  let firstFailure;
  for (const name of PLAN) {
    if (!results.has(name)) {
      record(name, false, `not run: an earlier step failed (${firstFailure ?? 'unknown'})`);
    } else if (!results.get(name).ok && !firstFailure) {
      firstFailure = name;
    }
  }
  const checks = PLAN.map((n) => results.get(n));
  const passed = checks.filter((c) => c.ok).length;
  const failed = checks.length - passed;
  console.log(
    JSON.stringify({
      probe: 'node',
      library: `${PROBE}@${libraryVersion()}`,
      passed,
      failed,
      checks,
    }),
  );
  process.exit(failed === 0 ? 0 : 1);
}

function libraryVersion() {
  try {
    const pkg = new URL('./node_modules/openid-client/package.json', import.meta.url);
    return JSON.parse(readFileSync(pkg, 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration

const ENV_NAMES = [
  'ISSUER',
  'CA_FILE',
  'CLIENT_ID',
  'CLIENT_SECRET',
  'REDIRECT_URI',
  'POST_LOGOUT_REDIRECT_URI',
  'USERNAME',
  'PASSWORD',
];
const env = {};

// ---------------------------------------------------------------------------------------------
// HTTP: one undici Agent that trusts CA_FILE (TLS verification stays on), used both by
// openid-client (customFetch) and by the "browser".

let dispatcher;

function libraryFetch(url, options) {
  return undiciFetch(url, { ...options, dispatcher });
}

/** A minimal cookie jar for one host: name, value, path, expiry (RFC 6265 subset). */
class CookieJar {
  constructor() {
    this.cookies = new Map(); // `${path}\n${name}` -> { name, value, path, secure }
  }

  store(requestUrl, response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = defaultPath(requestUrl);
      let secure = false;
      let expired = false;
      for (const attr of attrs) {
        const [k, ...v] = attr.split('=');
        const key = k.trim().toLowerCase();
        const val = v.join('=').trim();
        if (key === 'path' && val.startsWith('/')) path = val;
        else if (key === 'secure') secure = true;
        else if (key === 'max-age' && Number(val) <= 0) expired = true;
        else if (key === 'expires' && Date.parse(val) <= Date.now()) expired = true;
      }
      const key = `${path}\n${name}`;
      if (expired) this.cookies.delete(key);
      else this.cookies.set(key, { name, value, path, secure });
    }
  }

  header(url) {
    const u = new URL(url);
    const list = [...this.cookies.values()].filter(
      (c) => pathMatches(u.pathname, c.path) && (!c.secure || u.protocol === 'https:'),
    );
    return list.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  names() {
    return [...this.cookies.values()].map((c) => c.name);
  }
}

function defaultPath(url) {
  const p = new URL(url).pathname;
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

function pathMatches(requestPath, cookiePath) {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** The "browser": plain HTTP, redirects not followed, cookies kept. */
class Browser {
  constructor() {
    this.jar = new CookieJar();
  }

  async request(url, { method = 'GET', form } = {}) {
    const headers = { accept: 'text/html' };
    const cookie = this.jar.header(url);
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await undiciFetch(url, {
      method,
      headers,
      body,
      redirect: 'manual',
      dispatcher,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    this.jar.store(url, res);
    const text = await res.text();
    const loc = res.headers.get('location');
    return {
      status: res.status,
      location: loc ? new URL(loc, url).href : null,
      text,
    };
  }
}

function htmlUnescape(s) {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function hiddenInput(html, name) {
  const re = new RegExp(`<input[^>]*name="${name}"[^>]*>`, 'i');
  const tag = html.match(re)?.[0];
  const value = tag?.match(/value="([^"]*)"/i)?.[1];
  return value === undefined ? undefined : htmlUnescape(value);
}

function isRedirectUri(location) {
  if (!location) return false;
  const u = new URL(location);
  return `${u.origin}${u.pathname}` === env.REDIRECT_URI;
}

/**
 * Follows an authorization URL the way a browser would, signing in if Sesame asks. Returns the
 * redirect back to REDIRECT_URI (with code, state and iss) as a URL, and what happened.
 */
async function signIn(browser, authorizationUrl) {
  const steps = [];
  const first = await browser.request(authorizationUrl.href);
  steps.push(`authorize ${first.status}`);
  expect(first.status === 303, `authorization request answered ${first.status}, expected 303`);
  if (isRedirectUri(first.location)) {
    return { callback: new URL(first.location), steps: [...steps, 'session reused'] };
  }
  const loginUrl = new URL(first.location ?? 'about:blank');
  expect(
    `${loginUrl.origin}${loginUrl.pathname}` === `${env.ISSUER}/login` &&
      loginUrl.searchParams.has('tx'),
    `authorization request redirected to ${first.location}, expected ${env.ISSUER}/login?tx=...`,
  );
  const page = await browser.request(loginUrl.href);
  steps.push(`login page ${page.status}`);
  expect(page.status === 200, `sign-in page answered ${page.status}`);
  const tx = hiddenInput(page.text, 'tx');
  const csrf = hiddenInput(page.text, 'csrf');
  expect(tx && csrf, 'sign-in page has no hidden tx/csrf inputs');
  const posted = await browser.request(`${env.ISSUER}/login`, {
    method: 'POST',
    form: { tx, csrf, username: env.USERNAME, password: env.PASSWORD },
  });
  steps.push(`sign-in POST ${posted.status}`);
  expect(
    posted.status === 303 && isRedirectUri(posted.location),
    `sign-in answered ${posted.status}${posted.location ? ` to ${posted.location}` : ''}` +
      ` (expected 303 to ${env.REDIRECT_URI}); page says: ${pageMessage(posted.text)}`,
  );
  return { callback: new URL(posted.location), steps };
}

function pageMessage(html) {
  const err = html.match(/class="error"[^>]*>([\s\S]*?)</)?.[1];
  const title = html.match(/<title>([\s\S]*?)<\/title>/)?.[1];
  return htmlUnescape((err ?? title ?? html.slice(0, 200)).trim());
}

/** Starts a code flow: PKCE S256, state, nonce. */
async function startFlow(config) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: env.REDIRECT_URI,
    scope: SCOPE,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return { url, codeVerifier, state, nonce };
}

function exchange(config, callback, flow) {
  return client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: flow.codeVerifier,
    expectedState: flow.state,
    expectedNonce: flow.nonce,
    idTokenExpected: true,
  });
}

function jwtHeader(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'));
}

/** OIDC Core §3.1.3.6: left half of the hash of the access token, hash from the ID token's alg. */
function atHash(accessToken, alg) {
  const hash =
    alg === 'EdDSA' || alg.endsWith('512') ? 'sha512' : alg.endsWith('384') ? 'sha384' : 'sha256';
  const digest = createHash(hash).update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** Calls UserInfo expecting a refusal; returns how it was refused, or throws if it was not. */
async function expectUserinfoRefused(config, accessToken, sub) {
  let claims;
  try {
    claims = await client.fetchUserInfo(config, accessToken, sub);
  } catch (err) {
    const status = err.status ?? err.cause?.status;
    const challenge = Array.isArray(err.cause) ? err.cause[0] : undefined;
    expect(status === 401, `UserInfo refused the token but not with 401: ${describe(err)}`);
    return `401${challenge ? ` ${challenge.scheme} error=${challenge.parameters?.error}` : ''}`;
  }
  throw new Failure(`UserInfo still accepts the access token (sub ${claims.sub})`);
}

/** Calls the refresh grant expecting invalid_grant. */
async function expectRefreshRefused(config, refreshToken) {
  try {
    await client.refreshTokenGrant(config, refreshToken);
  } catch (err) {
    expect(
      err instanceof client.ResponseBodyError && err.error === 'invalid_grant',
      `refresh refused, but not with invalid_grant: ${describe(err)}`,
    );
    return `invalid_grant (${err.error_description ?? 'no description'})`;
  }
  throw new Failure('the refresh token still works');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  // Configuration.
  const configured = await check('config', () => {
    const missing = ENV_NAMES.filter((n) => !process.env[n]);
    expect(missing.length === 0, `missing environment variables: ${missing.join(', ')}`);
    for (const n of ENV_NAMES) env[n] = process.env[n];
    env.ISSUER = env.ISSUER.replace(/\/+$/, '');
    dispatcher = new Agent({ connect: { ca: readFileSync(env.CA_FILE, 'utf8') } });
    return { issuer: env.ISSUER, client_id: env.CLIENT_ID };
  });
  if (!configured) return;

  // 1. Discovery.
  let config;
  const discovered = await check('discovery', async () => {
    config = await client.discovery(
      new URL(env.ISSUER),
      env.CLIENT_ID,
      { redirect_uris: [env.REDIRECT_URI], post_logout_redirect_uris: [env.POST_LOGOUT_REDIRECT_URI] },
      client.ClientSecretBasic(env.CLIENT_SECRET),
      { [client.customFetch]: libraryFetch, execute: [client.enableNonRepudiationChecks] },
    );
    const md = config.serverMetadata();
    expect(md.issuer === env.ISSUER, `issuer ${md.issuer}`);
    expect(
      md.code_challenge_methods_supported?.includes('S256'),
      'code_challenge_methods_supported lacks S256',
    );
    expect(md.authorization_response_iss_parameter_supported === true, 'no RFC 9207 iss');
    expect(md.end_session_endpoint, 'no end_session_endpoint');
    expect(md.userinfo_endpoint && md.jwks_uri, 'no userinfo_endpoint or jwks_uri');
    return { issuer: md.issuer, end_session_endpoint: md.end_session_endpoint };
  });
  if (!discovered) return;

  // 2. Authorization URL.
  let flow;
  if (
    !(await check('authorization-url', async () => {
      flow = await startFlow(config);
      const md = config.serverMetadata();
      expect(
        `${flow.url.origin}${flow.url.pathname}` === md.authorization_endpoint,
        `URL ${flow.url.href} is not at the authorization_endpoint`,
      );
      const p = flow.url.searchParams;
      expect(p.get('code_challenge_method') === 'S256', 'no S256 challenge');
      return `${md.authorization_endpoint}?${[...p.keys()].join('&')}`;
    }))
  )
    return;

  // 3. The browser signs in.
  const browser = new Browser();
  let callback;
  if (
    !(await check('sign-in', async () => {
      const r = await signIn(browser, flow.url);
      callback = r.callback;
      expect(callback.searchParams.get('code'), `no code in ${callback.href}`);
      return `${r.steps.join(', ')}; back with ${[...callback.searchParams.keys()].join(', ')}`;
    }))
  )
    return;

  // 4. Code exchange; openid-client checks state, iss, the ID token (signature, claims, nonce).
  let tokens;
  let claims;
  if (
    !(await check('code-exchange', async () => {
      tokens = await exchange(config, callback, flow);
      claims = tokens.claims();
      expect(claims, 'no ID token');
      expect(tokens.access_token, 'no access token');
      expect(tokens.refresh_token, 'no refresh token');
      const h = jwtHeader(tokens.id_token);
      return { alg: h.alg, kid: h.kid, token_type: tokens.token_type, scope: tokens.scope };
    }))
  )
    return;
  const sub = claims.sub;
  await check('id-token-sub', () => {
    expect(typeof sub === 'string' && sub.length > 0, 'no sub');
    return sub;
  });
  await check('id-token-amr-pwd', () => {
    expect(Array.isArray(claims.amr) && claims.amr.includes('pwd'), `amr is ${JSON.stringify(claims.amr)}`);
    return claims.amr;
  });
  await check('id-token-at-hash', () => {
    // openid-client does not check at_hash in the code flow: the probe computes it.
    if (claims.at_hash === undefined) return 'absent (optional in the code flow)';
    const want = atHash(tokens.access_token, jwtHeader(tokens.id_token).alg);
    expect(claims.at_hash === want, `at_hash ${claims.at_hash}, computed ${want}`);
    return `matches (computed by the probe)`;
  });

  // 5. UserInfo; openid-client checks its sub against the ID token's.
  let info;
  if (
    await check('userinfo', async () => {
      info = await client.fetchUserInfo(config, tokens.access_token, sub);
      return `sub matches; claims ${Object.keys(info).sort().join(',')}`;
    })
  ) {
    await check('userinfo-email', () => {
      expect(info.email === EXPECTED_EMAIL, `email is ${JSON.stringify(info.email)}`);
      return info.email;
    });
    await check('userinfo-name', () => {
      expect(info.name === EXPECTED_NAME, `name is ${JSON.stringify(info.name)}`);
      return info.name;
    });
  }

  // 6. Refresh.
  let refreshed;
  if (
    !(await check('refresh', async () => {
      refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
      expect(refreshed.access_token, 'no access token');
      expect(refreshed.access_token !== tokens.access_token, 'the same access token came back');
      return {
        id_token: Boolean(refreshed.id_token),
        refresh_token_rotated: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token,
      };
    }))
  )
    return;
  await check('refresh-id-token-sub', () => {
    const c = refreshed.claims();
    if (!c) return 'no ID token in the refresh response';
    expect(c.sub === sub, `sub ${c.sub}, was ${sub}`);
    return 'validated by openid-client; same sub';
  });
  await check('refresh-userinfo', async () => {
    const i = await client.fetchUserInfo(config, refreshed.access_token, sub);
    return `sub matches; email ${i.email}`;
  });

  // 7. Code replay. Done on a second authorization in the same browser (Sesame reuses the
  // session) so that the revocation it should cause (RFC 6749 §4.1.2) does not touch the tokens
  // of steps 4-6, which step 8 needs alive.
  const flow2 = await startFlow(config);
  let tokens2;
  let callback2;
  if (
    !(await check('code-replay-first-exchange', async () => {
      const r = await signIn(browser, flow2.url);
      callback2 = r.callback;
      tokens2 = await exchange(config, callback2, flow2);
      expect(tokens2.claims()?.sub === sub, 'a different user');
      expect(tokens2.refresh_token, 'no refresh token');
      return `${r.steps.join(', ')}; exchanged`;
    }))
  )
    return;
  await check('code-replay-invalid-grant', async () => {
    try {
      await exchange(config, callback2, flow2);
    } catch (err) {
      expect(
        err instanceof client.ResponseBodyError && err.error === 'invalid_grant',
        `the replay was refused, but not with invalid_grant: ${describe(err)}`,
      );
      return `${err.status} invalid_grant (${err.error_description ?? 'no description'})`;
    }
    throw new Failure('the same code was exchanged twice');
  });
  // RFC 6749 §4.1.2 says SHOULD revoke; Sesame does it (its token endpoint revokes the grant of a
  // spent code), so the probe treats it as required.
  await check('code-replay-revokes-access-token', () =>
    expectUserinfoRefused(config, tokens2.access_token, sub),
  );
  await check('code-replay-revokes-refresh-token', () =>
    expectRefreshRefused(config, tokens2.refresh_token),
  );

  // 8. RP-initiated logout.
  await check('logout-precondition', async () => {
    // The step-6 token still works, so that its refusal after logout is the logout's doing.
    await client.fetchUserInfo(config, refreshed.access_token, sub);
    return 'the step-6 access token is accepted before logout';
  });
  const logoutState = client.randomState();
  if (
    !(await check('logout-redirect', async () => {
      const url = client.buildEndSessionUrl(config, {
        id_token_hint: refreshed.id_token ?? tokens.id_token,
        post_logout_redirect_uri: env.POST_LOGOUT_REDIRECT_URI,
        state: logoutState,
      });
      const r = await browser.request(url.href);
      expect(
        r.status === 303,
        `end_session_endpoint answered ${r.status}${r.location ? ` to ${r.location}` : ''}: ${pageMessage(r.text)}`,
      );
      const loc = new URL(r.location);
      expect(
        `${loc.origin}${loc.pathname}` === env.POST_LOGOUT_REDIRECT_URI,
        `redirected to ${r.location}`,
      );
      expect(loc.searchParams.get('state') === logoutState, `state in ${r.location}`);
      return `303 to ${env.POST_LOGOUT_REDIRECT_URI}?state=...; cookies left: ${browser.jar.names().join(',') || 'none'}`;
    }))
  )
    return;
  await check('logout-revokes-access-token', () =>
    expectUserinfoRefused(config, refreshed.access_token, sub),
  );
  await check('logout-ends-session', async () => {
    // The same browser must now be asked to sign in again.
    const flow3 = await startFlow(config);
    const r = await browser.request(flow3.url.href);
    expect(r.status === 303, `authorization request answered ${r.status}`);
    expect(!isRedirectUri(r.location), 'the browser was signed in without credentials');
    const u = new URL(r.location);
    expect(`${u.origin}${u.pathname}` === `${env.ISSUER}/login`, `redirected to ${r.location}`);
    return 'a new authorization request goes to the sign-in page';
  });
}

try {
  await main();
} catch (err) {
  // A bug in the probe itself: report it as a failure of the check that was running.
  const running = PLAN.find((n) => !results.has(n)) ?? 'config';
  record(running, false, `probe error: ${describe(err)}`);
}
finish();
