// Self-check of the calibration provider: plays the browser with plain HTTP and a cookie jar,
// as the conformance harness does, and checks the sequences README.md describes.
//
//   CERT_FILE=cert.pem KEY_FILE=key.pem node check.mjs
//       starts server.mjs itself (PORT, default 8643), checks, then stops it with SIGTERM
//   ISSUER=https://localhost:8643 CERT_FILE=cert.pem node check.mjs
//       checks a provider that is already running
//   TRACE=1 ...   prints every HTTP step (method, URL, status, Location, forms)
//
// Only Node built-ins: fetch trusts CERT_FILE through NODE_EXTRA_CA_CERTS (read at start-up, so
// the script re-executes itself once with it set).

import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const { CERT_FILE, KEY_FILE } = process.env;

if (!CERT_FILE) {
  console.error('check.mjs: set CERT_FILE (and KEY_FILE to let it start server.mjs, or ISSUER to use a running one)');
  process.exit(2);
}
if (process.env.NODE_EXTRA_CA_CERTS !== CERT_FILE) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: CERT_FILE },
  });
  process.exit(r.status ?? 1);
}

const TRACE = !!process.env.TRACE;
const CALLBACK = 'https://localhost.emobix.co.uk:8443/test/a/sesame/callback';
const POST_LOGOUT = 'https://localhost.emobix.co.uk:8443/test/a/sesame/post_logout_redirect';
const CLIENTS = {
  client: 'conformance-client-secret-0123456789abcdef',
  client2: 'conformance-client2-secret-0123456789abcdef',
  client_secret_post: 'conformance-post-secret-0123456789abcdef01',
};
const USER = 'conformance-user';
const PASSWORD = 'conformance-user-password';

// --- the provider -----------------------------------------------------------------------------

let server;
let ISSUER = process.env.ISSUER;
if (!ISSUER) {
  if (!KEY_FILE) {
    console.error('check.mjs: KEY_FILE is needed to start server.mjs (or set ISSUER)');
    process.exit(2);
  }
  const port = process.env.PORT || '8643';
  ISSUER = `https://localhost:${port}`;
  server = spawn(process.execPath, [path.join(here, 'server.mjs')], {
    env: { ...process.env, PORT: port }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      if (out.split('\n').includes('ready')) resolve();
    });
    server.on('exit', (code) => reject(new Error(`server.mjs exited (${code}) before ready`)));
    setTimeout(() => reject(new Error('server.mjs not ready after 20 s')), 20000).unref();
  });
  console.log(`started server.mjs: ${ISSUER} (stdout said "ready")`);
}

// --- a browser: cookie jar, no automatic redirects ---------------------------------------------

class Browser {
  constructor(name) {
    this.name = name;
    this.cookies = new Map(); // `${path}\t${name}` -> { name, value, path }
  }

  cookieHeader(url) {
    const { pathname } = new URL(url);
    return [...this.cookies.values()]
      .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`).join('; ');
  }

  store(url, response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let cpath = new URL(url).pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        if (k.toLowerCase() === 'path') cpath = v;
        if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      const key = `${cpath}\t${name}`;
      if (expired) this.cookies.delete(key); else this.cookies.set(key, { name, value, path: cpath });
    }
  }

  async request(method, url, { form, headers = {} } = {}) {
    const absolute = new URL(url, ISSUER).href;
    const cookie = this.cookieHeader(absolute);
    const response = await fetch(absolute, {
      method,
      redirect: 'manual',
      headers: {
        ...(cookie ? { cookie } : {}),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...headers,
      },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    this.store(absolute, response);
    const body = await response.text();
    const location = response.headers.get('location');
    if (TRACE) {
      console.log(`  [${this.name}] ${method} ${absolute}${form ? ` ${JSON.stringify(form)}` : ''}`);
      console.log(`    -> ${response.status}${location ? ` Location: ${location}` : ''}`);
      for (const f of forms(body)) console.log(`       form ${JSON.stringify(f)}`);
    }
    return {
      status: response.status, location, body, headers: response.headers,
    };
  }

  get(url) { return this.request('GET', url); }

  post(url, form) { return this.request('POST', url, { form }); }
}

function forms(html) {
  const result = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attr = (s, n) => (new RegExp(`\\b${n}="([^"]*)"`, 'i').exec(s) || [])[1];
    const fields = {};
    for (const i of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const name = attr(i[1], 'name');
      if (name) fields[name] = attr(i[1], 'value') ?? '';
    }
    result.push({
      id: attr(m[1], 'id'), method: (attr(m[1], 'method') || 'get').toUpperCase(), action: attr(m[1], 'action'), fields,
    });
  }
  return result;
}

// --- checks -------------------------------------------------------------------------------------

let passed = 0;
let failed = 0;
function check(ok, what, detail) {
  if (ok) {
    passed += 1;
    console.log(`ok   ${what}`);
  } else {
    failed += 1;
    console.log(`FAIL ${what}${detail === undefined ? '' : `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`}`);
  }
  return ok;
}

const discovery = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();
check(discovery.issuer === ISSUER, 'discovery issuer', discovery.issuer);
const jwks = await (await fetch(discovery.jwks_uri)).json();

const b64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

function verifyIdToken(idToken, clientId, nonce, { authTime = false } = {}) {
  const [h, p, s] = idToken.split('.');
  const header = b64json(h);
  const payload = b64json(p);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  const signatureOk = header.alg === 'RS256' && !!jwk
    && crypto.verify('sha256', Buffer.from(`${h}.${p}`), crypto.createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
  const now = Math.floor(Date.now() / 1000);
  const problems = [
    !signatureOk && `signature (${header.alg}, kid ${header.kid})`,
    payload.iss !== ISSUER && 'iss',
    payload.aud !== clientId && !(Array.isArray(payload.aud) && payload.aud.includes(clientId)) && 'aud',
    payload.sub !== USER && 'sub',
    nonce !== undefined && payload.nonce !== nonce && 'nonce',
    !(payload.exp > now) && 'exp',
    typeof payload.iat !== 'number' && 'iat',
    authTime && typeof payload.auth_time !== 'number' && 'auth_time',
  ].filter(Boolean);
  return { header, payload, problems };
}

function authUrl(params) {
  const u = new URL(discovery.authorization_endpoint);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.href;
}

const random = () => crypto.randomBytes(12).toString('base64url');

// Follows 303s from the authorization endpoint, filling the login and consent forms, until the
// redirect to the client. Returns the callback URL's parameters and what pages were shown.
async function authorize(browser, params, { password = PASSWORD } = {}) {
  const shown = [];
  let res = await browser.get(authUrl(params));
  for (let hops = 0; hops < 12; hops += 1) {
    if (res.status === 303 && res.location?.startsWith(CALLBACK)) {
      return { callback: Object.fromEntries(new URL(res.location).searchParams), shown, location: res.location };
    }
    if (res.status === 303 || res.status === 302) {
      res = await browser.get(res.location);
      continue;
    }
    if (res.status === 200) {
      const [form] = forms(res.body).filter((f) => f.id === 'login' || f.id === 'consent');
      if (form?.id === 'login') {
        shown.push('login');
        res = await browser.post(form.action, { ...form.fields, login: USER, password });
        continue;
      }
      if (form?.id === 'consent') {
        shown.push('consent');
        res = await browser.post(form.action, form.fields);
        continue;
      }
    }
    throw new Error(`unexpected response ${res.status} ${res.location || res.body.slice(0, 300)}`);
  }
  throw new Error('too many hops');
}

function basic(clientId) {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(CLIENTS[clientId])}`).toString('base64')}`;
}

async function token(clientId, form) {
  const post = clientId === 'client_secret_post';
  const res = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(post ? {} : { authorization: basic(clientId) }),
    },
    body: new URLSearchParams(post ? { ...form, client_id: clientId, client_secret: CLIENTS[clientId] } : form).toString(),
  });
  return { status: res.status, json: await res.json() };
}

const SCOPE = 'openid profile email address phone';
const STANDARD_CLAIMS = ['sub', 'name', 'given_name', 'family_name', 'middle_name', 'nickname',
  'preferred_username', 'profile', 'picture', 'website', 'email', 'email_verified', 'gender',
  'birthdate', 'zoneinfo', 'locale', 'phone_number', 'phone_number_verified', 'address', 'updated_at'];

try {
  // 1. one full code flow through the interaction forms, fresh cookie jar
  console.log('\n# full code flow (fresh cookie jar), client_secret_basic');
  const alice = new Browser('jar1');
  const state = random();
  const nonce = random();
  const first = await alice.get(authUrl({
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: SCOPE, state, nonce,
  }));
  check(first.status === 303 && /^\/interaction\/[\w-]+$/.test(first.location), 'GET /auth -> 303 /interaction/{uid}', first);
  const loginPage = await alice.get(first.location);
  const [loginForm] = forms(loginPage.body);
  check(loginPage.status === 200 && loginForm?.action === `${first.location}/login` && loginForm.method === 'POST'
    && 'login' in loginForm.fields && 'password' in loginForm.fields, 'login page: POST /interaction/{uid}/login with login, password', loginForm);
  const wrong = await alice.post(loginForm.action, { login: USER, password: 'wrong' });
  check(wrong.status === 200 && /Invalid username or password/.test(wrong.body) && forms(wrong.body)[0]?.action === loginForm.action,
    'wrong password -> 200, the login form again with an error');
  const afterLogin = await alice.post(loginForm.action, { login: USER, password: PASSWORD });
  check(afterLogin.status === 303 && afterLogin.location === `${ISSUER}/auth/${first.location.split('/').pop()}`, 'login -> 303 https://…/auth/{uid}', afterLogin.location);
  const resume = await alice.get(afterLogin.location);
  check(resume.status === 303 && /^\/interaction\/[\w-]+$/.test(resume.location) && resume.location !== first.location,
    'GET /auth/{uid} -> 303 /interaction/{uid2} (consent, a new uid)', resume.location);
  const consentPage = await alice.get(resume.location);
  const [consentForm] = forms(consentPage.body);
  check(consentForm?.action === `${resume.location}/confirm` && consentForm.method === 'POST' && Object.keys(consentForm.fields).length === 0,
    'consent page: POST /interaction/{uid2}/confirm, no fields', consentForm);
  const afterConsent = await alice.post(consentForm.action, {});
  check(afterConsent.status === 303 && afterConsent.location === `${ISSUER}/auth/${resume.location.split('/').pop()}`, 'consent -> 303 https://…/auth/{uid2}', afterConsent.location);
  const final = await alice.get(afterConsent.location);
  const cb = final.location?.startsWith(CALLBACK) ? Object.fromEntries(new URL(final.location).searchParams) : {};
  check(final.status === 303 && cb.code && cb.state === state && cb.iss === ISSUER, 'GET /auth/{uid2} -> 303 redirect_uri?code&state&iss', final.location);

  const tok = await token('client', { grant_type: 'authorization_code', code: cb.code, redirect_uri: CALLBACK });
  check(tok.status === 200 && tok.json.token_type === 'Bearer' && tok.json.access_token && tok.json.id_token,
    'token endpoint (client_secret_basic): access_token + id_token', tok);
  check(!!tok.json.refresh_token, 'refresh_token issued without offline_access', Object.keys(tok.json));
  check(tok.json.scope === SCOPE, 'token response scope', tok.json.scope);
  const idt = verifyIdToken(tok.json.id_token, 'client', nonce);
  check(idt.problems.length === 0, 'id_token: RS256 signature, iss, aud, sub, nonce, exp, iat', idt.problems);
  console.log(`     id_token claims: ${JSON.stringify(idt.payload)}`);

  const ui = await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tok.json.access_token}` } });
  const claims = await ui.json();
  check(ui.status === 200 && claims.sub === USER, 'userinfo (GET, Bearer header)', claims);
  const missing = STANDARD_CLAIMS.filter((c) => !(c in claims));
  check(missing.length === 0, 'userinfo has every standard claim', missing);
  console.log(`     userinfo: ${JSON.stringify(claims, null, 2).replace(/\n/g, '\n     ')}`);

  const uiPost = await fetch(discovery.userinfo_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ access_token: tok.json.access_token }).toString(),
  });
  check(uiPost.status === 200 && (await uiPost.json()).sub === USER, 'userinfo (POST, access_token in the body)');

  // 2. already logged in: no pages at all, consent remembered
  console.log('\n# second authorization, same jar and scopes');
  const second = await authorize(alice, {
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: SCOPE, state: 's2', nonce: 'n2',
  });
  check(second.shown.length === 0 && second.callback.code, 'GET /auth -> 303 redirect_uri directly', second.shown);
  const tok2 = await token('client', { grant_type: 'authorization_code', code: second.callback.code, redirect_uri: CALLBACK });
  const reuse = await token('client', { grant_type: 'authorization_code', code: cb.code, redirect_uri: CALLBACK });
  check(reuse.status === 400 && reuse.json.error === 'invalid_grant', 'first code reused -> 400 invalid_grant', reuse);
  const revoked = await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tok.json.access_token}` } });
  check(revoked.status === 401, 'first code reused revoked the access token (userinfo 401)', revoked.status);

  const afterReuse = await authorize(alice, {
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: SCOPE, state: 's2r',
  });
  check(afterReuse.shown.join() === 'consent', 'code reuse revoked the grant: next authorization shows consent again', afterReuse.shown);
  const tok2r = await token('client', { grant_type: 'authorization_code', code: afterReuse.callback.code, redirect_uri: CALLBACK });
  const rt = await token('client', { grant_type: 'refresh_token', refresh_token: tok2r.json.refresh_token });
  check(rt.status === 200 && rt.json.access_token && rt.json.id_token, 'refresh_token grant -> access_token + id_token', rt);
  check(rt.json.refresh_token === tok2r.json.refresh_token,
    'refresh_token grant returns the same refresh token (no rotation for confidential clients)', rt.json.refresh_token);
  const idtR = verifyIdToken(rt.json.id_token, 'client');
  check(idtR.problems.length === 0 && idtR.payload.sub === USER, 'id_token from the refresh: valid, same sub', idtR.problems);

  const other = await authorize(alice, {
    client_id: 'client2', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', state: 's2b',
  });
  check(other.shown.join() === 'consent' && other.callback.code, 'another client, same jar: consent page only', other.shown);

  const wider = await authorize(alice, {
    client_id: 'client2', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid email', state: 's2c',
  });
  check(wider.shown.join() === 'consent', 'more scopes than consented: consent page again', wider.shown);

  const claimsParam = await authorize(alice, {
    client_id: 'client2',
    redirect_uri: CALLBACK,
    response_type: 'code',
    scope: 'openid',
    state: 's2d',
    claims: JSON.stringify({ id_token: { name: { essential: true } }, userinfo: { email: { essential: true } } }),
  });
  check(claimsParam.shown.join() === 'consent', 'claims parameter asking new claims: consent page again', claimsParam.shown);
  const tokC = await token('client2', { grant_type: 'authorization_code', code: claimsParam.callback.code, redirect_uri: CALLBACK });
  const idtC = verifyIdToken(tokC.json.id_token, 'client2');
  const uiC = await (await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokC.json.access_token}` } })).json();
  check(idtC.payload.name === 'Connie Formance' && uiC.email === 'conformance-user@sesame.example' && uiC.name === undefined,
    'claims parameter: name in the id_token, email in userinfo', { id_token_name: idtC.payload.name, userinfo: uiC });

  // 3. prompt=none when logged in
  const none = await alice.get(authUrl({
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: SCOPE, state: 's3', prompt: 'none',
  }));
  check(none.status === 303 && new URL(none.location).searchParams.get('code'), 'prompt=none, logged in -> 303 redirect_uri?code', none.location);

  // 4. prompt=login: the login page, no consent
  console.log('\n# prompt=login');
  const again = await authorize(alice, {
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: SCOPE, state: 's4', prompt: 'login',
  });
  check(again.shown.join() === 'login' && again.callback.code, 'prompt=login: login page, then straight to redirect_uri', again.shown);

  // 5. max_age=1 after 2 s
  console.log('\n# max_age=1 after 2 s');
  await new Promise((r) => { setTimeout(r, 2000); });
  const t0 = Math.floor(Date.now() / 1000);
  const aged = await authorize(alice, {
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: SCOPE, state: 's5', nonce: 'n5', max_age: '1',
  });
  check(aged.shown.join() === 'login' && aged.callback.code, 'max_age=1: login page, then straight to redirect_uri', aged.shown);
  const tokA = await token('client', { grant_type: 'authorization_code', code: aged.callback.code, redirect_uri: CALLBACK });
  const idtA = verifyIdToken(tokA.json.id_token, 'client', 'n5', { authTime: true });
  check(idtA.problems.length === 0 && idtA.payload.auth_time >= t0, 'max_age id_token: auth_time present, of the new login', idtA);

  // acr / amr: only when asked for (acr_values, or the claims parameter)
  const withAcr = await authorize(alice, {
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', state: 's5b', acr_values: 'urn:mace:incommon:iap:bronze',
  });
  const tokAcr = await token('client', { grant_type: 'authorization_code', code: withAcr.callback.code, redirect_uri: CALLBACK });
  const idtAcr = verifyIdToken(tokAcr.json.id_token, 'client');
  check(withAcr.shown.length === 0 && idtAcr.payload.acr === 'urn:mace:incommon:iap:bronze' && idtAcr.payload.amr === undefined,
    'acr_values: no page, id_token acr bronze (no amr)', { shown: withAcr.shown, acr: idtAcr.payload.acr, amr: idtAcr.payload.amr });
  const withAmr = await authorize(alice, {
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', state: 's5c', claims: JSON.stringify({ id_token: { amr: null, acr: { essential: true } } }),
  });
  const tokAmr = await token('client', { grant_type: 'authorization_code', code: withAmr.callback.code, redirect_uri: CALLBACK });
  const idtAmr = verifyIdToken(tokAmr.json.id_token, 'client');
  check(idtAmr.payload.acr === 'urn:mace:incommon:iap:bronze' && idtAmr.payload.amr?.join() === 'pwd',
    `claims {id_token: {amr, acr}}: acr bronze, amr [pwd] (pages: ${withAmr.shown.join() || 'none'})`, idtAmr.payload);
  const noIdtClaims = verifyIdToken(tok.json.id_token, 'client', nonce).payload;
  check(noIdtClaims.name === undefined && noIdtClaims.email === undefined,
    'plain code flow: the id_token carries no profile/email claims (they are in userinfo)', Object.keys(noIdtClaims));

  // 6. prompt=none with a fresh jar
  console.log('\n# prompt=none, not logged in');
  const fresh = new Browser('jar2');
  const loggedOut = await fresh.get(authUrl({
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', state: 's6', prompt: 'none',
  }));
  const lo = loggedOut.location ? Object.fromEntries(new URL(loggedOut.location).searchParams) : {};
  check(loggedOut.status === 303 && lo.error === 'login_required' && lo.state === 's6' && lo.iss === ISSUER,
    'prompt=none, fresh jar -> 303 redirect_uri?error=login_required&state&iss', loggedOut.location);

  // 7. client_secret_post
  console.log('\n# client_secret_post');
  const viaPost = await authorize(fresh, {
    client_id: 'client_secret_post', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', state: 's7',
  });
  check(viaPost.shown.join() === 'login,consent', 'fresh jar: login then consent', viaPost.shown);
  const tokP = await token('client_secret_post', { grant_type: 'authorization_code', code: viaPost.callback.code, redirect_uri: CALLBACK });
  check(tokP.status === 200 && tokP.json.id_token, 'token endpoint (client_secret_post)', tokP);

  // 8. errors the Basic plan provokes
  console.log('\n# errors');
  const badRedirect = await fresh.get(authUrl({
    client_id: 'client', redirect_uri: `${CALLBACK}/wrong`, response_type: 'code', scope: 'openid', state: 's8',
  }));
  check(badRedirect.status === 400 && /redirect_uri did not match/.test(badRedirect.body), 'unregistered redirect_uri -> 400 error page, no redirect', badRedirect.status);
  const noOpenid = await fresh.get(authUrl({
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: 'profile', state: 's8b',
  }));
  check(noOpenid.status === 303 && /^\/interaction\//.test(noOpenid.location), 'scope without openid: a plain OAuth 2.0 request, -> 303 /interaction/{uid}', noOpenid.location);
  const oauthOnly = await authorize(fresh, {
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: 'profile', state: 's8c',
  });
  const tokO = await token('client', { grant_type: 'authorization_code', code: oauthOnly.callback.code, redirect_uri: CALLBACK });
  check(tokO.status === 200 && !tokO.json.id_token && tokO.json.access_token, `… consent, code, token response without id_token (scope "${tokO.json.scope}")`, tokO.json);
  const uiO = await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokO.json.access_token}` } });
  check(uiO.status === 403 || uiO.status === 401, `… its access token at userinfo: ${uiO.status} ${uiO.headers.get('www-authenticate')}`);
  const badResponseType = await fresh.get(authUrl({
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'id_token', scope: 'openid', state: 's8d', nonce: 'n8d',
  }));
  check(badResponseType.status === 303, `response_type=id_token for a code-only client -> 303 ${badResponseType.location?.replace(CALLBACK, 'redirect_uri')}`);
  const noResponseType = await fresh.get(authUrl({
    client_id: 'client', redirect_uri: CALLBACK, scope: 'openid', state: 's8e',
  }));
  check(noResponseType.status === 303, `no response_type -> ${noResponseType.status} ${noResponseType.location?.replace(CALLBACK, 'redirect_uri')}`);
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify({
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', state: 's8f',
  })).toString('base64url')}.`;
  const ro = await fresh.get(authUrl({
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', request: unsigned,
  }));
  check(ro.status === 303 || ro.status === 400, `unsigned request object (alg none) -> ${ro.status} ${ro.location?.replace(CALLBACK, 'redirect_uri') || ''}`);
  const ru = await fresh.get(authUrl({
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', request_uri: 'https://localhost.emobix.co.uk:8443/test/a/sesame/requesturi/abc',
  }));
  check(ru.status === 303 || ru.status === 400, `request_uri (not pre-registered) -> ${ru.status} ${ru.location?.replace(CALLBACK, 'redirect_uri') || ''}`);
  const pkce = await authorize(fresh, {
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', state: 's8g',
    code_challenge: crypto.createHash('sha256').update('verifier-0123456789-0123456789-0123456789-abc').digest('base64url'), code_challenge_method: 'S256',
  });
  const tokPk = await token('client', { grant_type: 'authorization_code', code: pkce.callback.code, redirect_uri: CALLBACK, code_verifier: 'verifier-0123456789-0123456789-0123456789-abc' });
  check(tokPk.status === 200, 'PKCE S256 (optional for these clients) works when sent', tokPk.json);

  // 9. RP-initiated logout
  console.log('\n# RP-initiated logout');
  const end = await alice.get(`${discovery.end_session_endpoint}?${new URLSearchParams({
    id_token_hint: tokA.json.id_token, post_logout_redirect_uri: POST_LOGOUT, state: 'bye',
  })}`);
  const [logoutForm] = forms(end.body);
  check(end.status === 200 && logoutForm?.id === 'op.logoutForm' && logoutForm.action === `${ISSUER}/session/end/confirm`
    && Object.keys(logoutForm.fields).join() === 'xsrf', 'GET end_session -> 200 page, form op.logoutForm -> /session/end/confirm, hidden xsrf', logoutForm);
  const confirmed = await alice.post(logoutForm.action, { ...logoutForm.fields, logout: 'yes' });
  check(confirmed.status === 303 && confirmed.location === `${POST_LOGOUT}?state=bye`, 'POST xsrf + logout=yes -> 303 post_logout_redirect_uri?state', confirmed.location);
  const afterLogout = await alice.get(authUrl({
    client_id: 'client', redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', state: 's9', prompt: 'none',
  }));
  check(new URL(afterLogout.location).searchParams.get('error') === 'login_required', 'after logout, prompt=none -> login_required', afterLogout.location);
  const rtAfter = await token('client', { grant_type: 'refresh_token', refresh_token: tok2r.json.refresh_token });
  check(rtAfter.status === 400, `after logout the refresh token (no offline_access) is gone: ${rtAfter.status} ${rtAfter.json.error}`);

  const stranger = new Browser('jar3');
  const endLoggedOut = await stranger.get(`${discovery.end_session_endpoint}?client_id=client`);
  const [autoForm] = forms(endLoggedOut.body);
  check(endLoggedOut.status === 200 && autoForm?.action === `${ISSUER}/session/end/confirm` && autoForm.fields.logout === 'yes' && autoForm.fields.xsrf,
    'end_session with no session: self-submitting form (xsrf, logout=yes)', autoForm);
  const done = await stranger.post(autoForm.action, autoForm.fields);
  check(done.status === 303 && done.location === `${ISSUER}/session/end/success`, '… -> 303 /session/end/success', done.location);
} catch (err) {
  check(false, 'unexpected error', err.stack);
} finally {
  console.log(`\n${passed} passed, ${failed} failed`);
  if (server) {
    const exited = new Promise((r) => { server.on('exit', (code, signal) => r({ code, signal })); });
    server.kill('SIGTERM');
    const { code, signal } = await exited;
    console.log(`server.mjs stopped by SIGTERM: exit code ${code}${signal ? `, signal ${signal}` : ''}`);
  }
  process.exitCode = failed ? 1 : 0;
}
