// The benchmark's peer: panva's oidc-provider (pinned in package-lock.json) set up like Sesame's
// bench organization, so `sesame-bench` can drive both with the same sign-in and the same
// requests. Everything is kept in memory (oidc-provider's development adapter, an LRU of 1,000
// entries), keys are generated at start.
//
//   PORT=8700 PASSWORD_HASH='$argon2id$v=19$m=19456,t=2,p=1$…' USERS=64 OTP_CODE=424242 node server.mjs
//
// - Sign-in: the password (argon2id, verified with @node-rs/argon2 against PASSWORD_HASH, the
//   same PHC string Sesame's users have: m=19456 t=2 p=1), then a one-time code, which is the
//   fixed OTP_CODE (nothing is sent), then consent granted automatically (a first-party client),
//   as Sesame's flow `[["password"], ["sms_otp"]]` for a first-party application.
// - Users `user-00000` … `user-{USERS-1}`, all with that password and the same claims shape.
// - Clients (secrets below, client_secret_basic): `bench-web` (code + refresh, PKCE S256 sent by
//   the bench), `bench-svc-rs` and `bench-svc-es` (client_credentials, JWT access tokens for the
//   resource `https://api.bench.example` signed RS256 and ES256).
// - Lifetimes as Sesame's defaults where the bench can tell: code 60 s, access and ID tokens
//   300 s, refresh tokens a day (rotated on every use), sessions 12 h, sign-ins 15 min.
//
// It prints `ready` on stdout once listening and exits 0 on SIGTERM or SIGINT.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import { verify as argon2Verify } from '@node-rs/argon2';
import Provider, { errors } from 'oidc-provider';

const {
  PORT, PASSWORD_HASH, USERS = '64', OTP_CODE = '424242',
} = process.env;
if (!PORT || !PASSWORD_HASH) {
  process.stderr.write('PORT and PASSWORD_HASH are required\n');
  process.exit(2);
}
const ISSUER = `http://127.0.0.1:${PORT}`;
const USER_COUNT = Number(USERS);

// The bench's constants (bench/src/peer.rs has the same).
const WEB_CLIENT = 'bench-web';
const SECRET = 'a-bench-client-secret-of-forty-characters';
const REDIRECT_URI = 'https://app.bench.example/callback';
const RESOURCE = 'https://api.bench.example';
const RESOURCE_SCOPE = 'api:read';
const ACR = 'urn:sesame:acr:mfa';
const AMR = ['pwd', 'sms', 'otp', 'mfa'];

const MINUTE = 60;
const HOUR = 60 * MINUTE;

// --- accounts ---------------------------------------------------------------------------------

function userIndex(username) {
  const match = /^user-(\d{5})$/.exec(username ?? '');
  if (!match) return -1;
  const i = Number(match[1]);
  return i < USER_COUNT ? i : -1;
}

function account(username) {
  const i = userIndex(username);
  if (i < 0) return undefined;
  const claims = {
    sub: username,
    name: `Bench User ${i}`,
    given_name: 'Bench',
    family_name: `User ${i}`,
    preferred_username: username,
    email: `${username}@bench.example`,
    email_verified: true,
    phone_number: `+141550${String(i).padStart(5, '0')}`,
    phone_number_verified: true,
  };
  return {
    accountId: username,
    async claims() {
      return { ...claims };
    },
  };
}

async function findAccount(_ctx, sub) {
  return account(sub);
}

// --- keys: generated at start -------------------------------------------------------------------

function jwk(type, options) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  const key = privateKey.export({ format: 'jwk' });
  return { ...key, use: 'sig', kid: crypto.randomBytes(8).toString('hex') };
}

const jwks = {
  keys: [
    jwk('rsa', { modulusLength: 2048 }), // RS256: ID tokens and the RS256 access tokens
    jwk('ec', { namedCurve: 'P-256' }), // ES256 access tokens
  ],
};

// --- clients ----------------------------------------------------------------------------------

const clients = [
  {
    client_id: WEB_CLIENT,
    client_secret: SECRET,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  ...['rs', 'es'].map((alg) => ({
    client_id: `bench-svc-${alg}`,
    client_secret: SECRET,
    redirect_uris: [],
    grant_types: ['client_credentials'],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
];

// --- pages ------------------------------------------------------------------------------------

const esc = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
})[c]);

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>${esc(title)}</h1>
${body}
</body>
</html>
`;
}

function loginPage(uid, error) {
  return page('Sign in', `${error ? `<p role="alert">${esc(error)}</p>\n` : ''}<form id="login" action="/interaction/${esc(uid)}/login" method="post">
  <input type="text" name="login" autocomplete="username" required>
  <input type="password" name="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>`);
}

function otpPage(uid, error) {
  return page('Enter the code', `${error ? `<p role="alert">${esc(error)}</p>\n` : ''}<form id="otp" action="/interaction/${esc(uid)}/otp" method="post">
  <input type="text" name="code" autocomplete="one-time-code" inputmode="numeric" required>
  <button type="submit">Continue</button>
</form>`);
}

// --- provider ---------------------------------------------------------------------------------

const configuration = {
  clients,
  findAccount,
  jwks,
  interactions: {
    url(_ctx, interaction) {
      return `/interaction/${interaction.uid}`;
    },
  },
  acrValues: [ACR],
  claims: {
    acr: null,
    amr: null,
    email: ['email', 'email_verified'],
    phone: ['phone_number', 'phone_number_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
  },
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => false,
      // One API: its access tokens are JWTs (RFC 9068) signed RS256 or ES256 by client.
      async getResourceServerInfo(_ctx, resourceIndicator, client) {
        if (resourceIndicator !== RESOURCE) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: RESOURCE_SCOPE,
          audience: RESOURCE,
          accessTokenTTL: 5 * MINUTE,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: client.clientId === 'bench-svc-es' ? 'ES256' : 'RS256' } },
        };
      },
    },
  },
  // First-party: consent is granted without a page, for what was asked.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (grant) return grant;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
    await grant.save();
    return grant;
  },
  // As Sesame: a refresh token for every client allowed the grant, rotated on every use.
  async issueRefreshToken(_ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  rotateRefreshToken: true,
  pkce: {
    methods: ['S256'],
  },
  ttl: {
    AccessToken: 5 * MINUTE,
    AuthorizationCode: MINUTE,
    ClientCredentials: 5 * MINUTE,
    Grant: 12 * HOUR,
    IdToken: 5 * MINUTE,
    Interaction: 15 * MINUTE,
    RefreshToken: 24 * HOUR,
    Session: 12 * HOUR,
  },
  enabledJWA: {
    idTokenSigningAlgValues: ['RS256', 'ES256'],
  },
};

const provider = new Provider(ISSUER, configuration);

// --- interactions: the password, then the code -----------------------------------------------

// Sign-ins whose password passed, waiting for their code: interaction uid -> { accountId, exp }.
const passed = new Map();
setInterval(() => {
  const now = Date.now();
  for (const [uid, entry] of passed) {
    if (entry.exp < now) passed.delete(uid);
  }
}, MINUTE * 1000).unref();

async function readForm(ctx) {
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > 16 * 1024) ctx.throw(413, 'request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|otp))?$/;

provider.use(async (ctx, next) => {
  const match = INTERACTION.exec(ctx.path);
  if (!match) {
    return next();
  }
  const [, uid, action] = match;
  ctx.set('cache-control', 'no-store');
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid || details.prompt.name !== 'login') {
    ctx.throw(400, 'this sign-in is not waiting for a login');
  }
  ctx.type = 'html';

  if (!action && ctx.method === 'GET') {
    ctx.body = loginPage(uid);
    return undefined;
  }
  if (action === 'login' && ctx.method === 'POST') {
    const form = await readForm(ctx);
    const username = form.get('login') ?? '';
    // An unknown user costs the same hash as a wrong password.
    const ok = await argon2Verify(PASSWORD_HASH, form.get('password') ?? '');
    if (!ok || userIndex(username) < 0) {
      ctx.body = loginPage(uid, 'Wrong username or password.');
      return undefined;
    }
    passed.set(uid, { accountId: username, exp: Date.now() + 15 * MINUTE * 1000 });
    ctx.status = 303;
    ctx.redirect(`/interaction/${uid}/otp`);
    return undefined;
  }
  if (action === 'otp' && ctx.method === 'GET') {
    if (!passed.has(uid)) ctx.throw(400, 'the password step has not passed');
    ctx.body = otpPage(uid);
    return undefined;
  }
  if (action === 'otp' && ctx.method === 'POST') {
    const form = await readForm(ctx);
    const entry = passed.get(uid);
    if (!entry) ctx.throw(400, 'the password step has not passed');
    const code = Buffer.from(form.get('code') ?? '');
    const want = Buffer.from(OTP_CODE);
    if (code.length !== want.length || !crypto.timingSafeEqual(code, want)) {
      ctx.body = otpPage(uid, 'Wrong code.');
      return undefined;
    }
    passed.delete(uid);
    await provider.interactionFinished(ctx.req, ctx.res, {
      login: { accountId: entry.accountId, acr: ACR, amr: AMR },
    }, { mergeWithLastSubmission: false });
    return undefined;
  }
  ctx.throw(405, 'method not allowed');
  return undefined;
});

// --- HTTP -------------------------------------------------------------------------------------

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 60_000;
server.listen(Number(PORT), '127.0.0.1', () => {
  process.stdout.write('ready\n');
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
