// Calibration OpenID Provider for the Sesame conformance harness.
//
// panva's certified `oidc-provider`, configured after the library's own OpenID certification
// deployment (certification/oidc/configuration.js + certification/oidc/index.js in the
// oidc-provider repository): devInteractions off and the interactions served here, the same
// features where they work without extra infrastructure, every JWA algorithm but `none`,
// `pkce.required` returning false, the bronze ACR and `amr: ["pwd"]` on login.
// What differs from that deployment, and why, is listed in README.md.
//
// Environment: PORT, CERT_FILE, KEY_FILE (PEM). Serves HTTPS on 127.0.0.1:PORT, issuer
// https://localhost:PORT. Prints `ready` on stdout once listening; exits 0 on SIGTERM/SIGINT.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import { createRequire } from 'node:module';

import Provider, { errors } from 'oidc-provider';

const require = createRequire(import.meta.url);
const { version: oidcProviderVersion } = require('oidc-provider/package.json');

const { PORT, CERT_FILE, KEY_FILE } = process.env;
if (!PORT || !CERT_FILE || !KEY_FILE) {
  console.error('server.mjs: PORT, CERT_FILE and KEY_FILE must be set');
  process.exit(2);
}
const ISSUER = `https://localhost:${PORT}`;

// --- the one account (values as provision.toml's `conformance` organization) -----------------

const USERNAME = 'conformance-user';
const PASSWORD = 'conformance-user-password';
const ACR = 'urn:mace:incommon:iap:bronze';

const ACCOUNT_CLAIMS = {
  sub: USERNAME,
  name: 'Connie Formance',
  given_name: 'Connie',
  family_name: 'Formance',
  middle_name: 'Oidc',
  nickname: 'Con',
  preferred_username: 'connie',
  profile: 'https://sesame.example/people/connie',
  picture: 'https://sesame.example/people/connie.png',
  website: 'https://connie.example',
  email: 'conformance-user@sesame.example',
  email_verified: true,
  gender: 'female',
  birthdate: '1990-04-01',
  zoneinfo: 'Europe/London',
  locale: 'en-GB',
  phone_number: '+44 7400 900100',
  phone_number_verified: true,
  address: {
    formatted: '1 Test Street\nLondon SW1A 1AA\nUnited Kingdom',
    street_address: '1 Test Street',
    locality: 'London',
    region: 'Greater London',
    postal_code: 'SW1A 1AA',
    country: 'United Kingdom',
  },
  updated_at: 1735689600, // 2025-01-01T00:00:00Z, fixed
};

const account = {
  accountId: USERNAME,
  // oidc-provider masks the result by scope / claims parameter itself.
  async claims(use, scope, claims, rejected) { // eslint-disable-line no-unused-vars
    return structuredClone(ACCOUNT_CLAIMS);
  },
};

async function findAccount(ctx, sub) {
  return sub === USERNAME ? account : undefined;
}

// --- keys: generated at start (nothing secret is committed); one per algorithm family --------

function jwk(type, options, use) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  const key = privateKey.export({ format: 'jwk' });
  return { ...key, use, kid: crypto.randomBytes(8).toString('hex') };
}

const jwks = {
  keys: [
    jwk('rsa', { modulusLength: 2048 }, 'sig'), // first RSA key: RS256 ID Tokens (the default)
    jwk('ec', { namedCurve: 'P-256' }, 'sig'),
    jwk('ec', { namedCurve: 'secp256k1' }, 'sig'),
    jwk('ec', { namedCurve: 'P-384' }, 'sig'),
    jwk('ec', { namedCurve: 'P-521' }, 'sig'),
    jwk('ed25519', {}, 'sig'),
    jwk('rsa', { modulusLength: 2048 }, 'enc'),
    jwk('ec', { namedCurve: 'P-256' }, 'enc'),
    jwk('ec', { namedCurve: 'P-384' }, 'enc'),
    jwk('ec', { namedCurve: 'P-521' }, 'enc'),
  ],
};

// Every algorithm the library implements, `none` never (it is not even implemented in 8.x):
// what the certification deployment does by loading lib/consts/jwa.js and filtering out `none`.
const SIG = [
  'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
  'ES256', 'ES256K', 'ES384', 'ES512', 'EdDSA',
];
const ASYMMETRIC_SIG = SIG.filter((alg) => !alg.startsWith('HS'));
const ENC_ALG = [
  'RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512',
  'ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW',
  'A128GCMKW', 'A192GCMKW', 'A256GCMKW', 'A128KW', 'A192KW', 'A256KW', 'dir',
];
const ENC_ENC = ['A128CBC-HS256', 'A128GCM', 'A192CBC-HS384', 'A192GCM', 'A256CBC-HS512', 'A256GCM'];

// --- static clients (provision.toml, organization `conformance`) ------------------------------

const CALLBACK = 'https://localhost.emobix.co.uk:8443/test/a/sesame/callback';
const commonClient = {
  redirect_uris: [CALLBACK],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
};
const clients = [
  {
    ...commonClient,
    client_id: 'client',
    client_name: 'Conformance client',
    client_secret: 'conformance-client-secret-0123456789abcdef',
    token_endpoint_auth_method: 'client_secret_basic',
    post_logout_redirect_uris: ['https://localhost.emobix.co.uk:8443/test/a/sesame/post_logout_redirect'],
  },
  {
    ...commonClient,
    client_id: 'client2',
    client_name: 'Conformance client 2',
    client_secret: 'conformance-client2-secret-0123456789abcdef',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    ...commonClient,
    client_id: 'client_secret_post',
    client_name: 'Conformance client (client_secret_post)',
    client_secret: 'conformance-post-secret-0123456789abcdef01',
    token_endpoint_auth_method: 'client_secret_post',
  },
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

function loginPage({ uid, params, client, error }) {
  return page('Sign-in', `<p>Sign in to continue to ${esc(client?.clientName || params.client_id)}.</p>
${error ? `<p class="error" role="alert">${esc(error)}</p>\n` : ''}<form id="login" autocomplete="off" action="/interaction/${esc(uid)}/login" method="post">
  <input type="text" name="login" placeholder="Username" required value="${esc(params.login_hint)}">
  <input type="password" name="password" placeholder="Password" required>
  <button type="submit">Sign-in</button>
</form>
<p><a href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

function consentPage({ uid, params, client, details }) {
  const scopes = (details.missingOIDCScope || []).filter((s) => s !== 'openid');
  const claims = (details.missingOIDCClaims || [])
    .filter((c) => !['sub', 'sid', 'auth_time', 'acr', 'amr', 'iss'].includes(c));
  const items = [
    ...scopes.map((s) => `<li>scope: ${esc(s)}</li>`),
    ...claims.map((c) => `<li>claim: ${esc(c)}</li>`),
  ];
  return page('Authorize', `<p>${esc(client?.clientName || params.client_id)} asks for:</p>
<ul>${items.length ? items.join('') : '<li>confirmation of an earlier authorization</li>'}</ul>
<form id="consent" autocomplete="off" action="/interaction/${esc(uid)}/confirm" method="post">
  <button type="submit">Continue</button>
</form>
<form id="abort" action="/interaction/${esc(uid)}/abort" method="post">
  <button type="submit">Cancel</button>
</form>`);
}

async function logoutSource(ctx, form) {
  ctx.body = page('Sign-out', `<p>Do you want to sign-out from ${esc(ctx.host)}?</p>
${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
}

async function postLogoutSuccessSource(ctx) {
  const display = ctx.oidc.client?.clientName || ctx.oidc.client?.clientId;
  ctx.body = page('Sign-out Success', `<p>Your sign-out${display ? ` with ${esc(display)}` : ''} was successful.</p>`);
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('oops! something went wrong', Object.entries(out)
    .map(([key, value]) => `<pre><strong>${esc(key)}</strong>: ${esc(value)}</pre>`).join('\n'));
}

// --- provider ---------------------------------------------------------------------------------

const DAY = 24 * 60 * 60;

const configuration = {
  clients,
  findAccount,
  jwks,
  interactions: {
    url(ctx, interaction) {
      return `/interaction/${interaction.uid}`;
    },
  },
  acrValues: [ACR],
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
  },
  discovery: {
    version: oidcProviderVersion,
  },
  claims: {
    amr: null,
    address: ['address'],
    email: ['email', 'email_verified'],
    phone: ['phone_number', 'phone_number_verified'],
    profile: ['birthdate', 'family_name', 'gender', 'given_name', 'locale', 'middle_name', 'name',
      'nickname', 'picture', 'preferred_username', 'profile', 'updated_at', 'website', 'zoneinfo'],
  },
  clientBasedCORS() {
    return false;
  },
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    claimsParameter: { enabled: true },
    deviceFlow: { enabled: true },
    dPoP: { enabled: true },
    encryption: { enabled: true },
    introspection: { enabled: true },
    jwtUserinfo: { enabled: true },
    jwtResponseModes: { enabled: true },
    pushedAuthorizationRequests: { enabled: true },
    registration: { enabled: true },
    registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
    requestObjects: { request: true, requestUri: true, mode: 'strict' },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    userinfo: { enabled: true },
  },
  responseTypes: ['code id_token token', 'code id_token', 'code token', 'code', 'id_token token', 'id_token', 'none'],
  subjectTypes: ['public', 'pairwise'],
  pairwiseIdentifier(ctx, accountId, { sectorIdentifier }) {
    return crypto.createHash('sha256')
      .update(sectorIdentifier)
      .update(accountId)
      .update('sesame-conformance-calibration')
      .digest('hex');
  },
  clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'private_key_jwt'],
  // Refresh tokens for every client allowed the refresh_token grant, offline_access or not
  // (the certification deployment still asks offline_access of confidential clients).
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  pkce: {
    methods: ['S256'],
    required: () => false,
  },
  ttl: {
    AccessToken: 60 * 60,
    AuthorizationCode: 10 * 60, // codereuse-30seconds waits 30 s before reusing the code
    BackchannelAuthenticationRequest: 10 * 60,
    ClientCredentials: 10 * 60,
    DeviceCode: 10 * 60,
    Grant: 14 * DAY,
    IdToken: 60 * 60,
    Interaction: 60 * 60,
    RefreshToken: 14 * DAY,
    Session: 14 * DAY,
  },
  enabledJWA: {
    clientAuthSigningAlgValues: SIG,
    idTokenSigningAlgValues: SIG,
    requestObjectSigningAlgValues: SIG,
    userinfoSigningAlgValues: SIG,
    introspectionSigningAlgValues: SIG,
    authorizationSigningAlgValues: SIG,
    idTokenEncryptionAlgValues: ENC_ALG,
    requestObjectEncryptionAlgValues: ENC_ALG,
    userinfoEncryptionAlgValues: ENC_ALG,
    introspectionEncryptionAlgValues: ENC_ALG,
    authorizationEncryptionAlgValues: ENC_ALG,
    idTokenEncryptionEncValues: ENC_ENC,
    requestObjectEncryptionEncValues: ENC_ENC,
    userinfoEncryptionEncValues: ENC_ENC,
    introspectionEncryptionEncValues: ENC_ENC,
    authorizationEncryptionEncValues: ENC_ENC,
    dPoPSigningAlgValues: ASYMMETRIC_SIG,
  },
  renderError,
};

const provider = new Provider(ISSUER, configuration);

// As the certification deployment: every login gets the bronze ACR and amr ["pwd"].
const { interactionFinished } = provider;
provider.interactionFinished = (...args) => {
  const { login } = args[2];
  if (login) {
    Object.assign(args[2].login, { acr: ACR, amr: ['pwd'] });
  }
  return interactionFinished.call(provider, ...args);
};

// As the certification deployment: RFC 8414 metadata at its own well-known path too.
provider.use((ctx, next) => {
  if (ctx.path !== '/.well-known/oauth-authorization-server') {
    return next();
  }
  ctx.path = '/.well-known/openid-configuration';
  return next().then(() => {
    ctx.path = '/.well-known/oauth-authorization-server';
  });
});

// --- interactions (login with the password, then consent) ------------------------------------

async function readForm(ctx) {
  if (!ctx.is('application/x-www-form-urlencoded')) {
    return new URLSearchParams();
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > 64 * 1024) ctx.throw(413, 'request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?\/?$/;

provider.use(async (ctx, next) => {
  const match = INTERACTION.exec(ctx.path);
  if (!match) {
    return next();
  }
  const [, , action] = match;
  ctx.set('cache-control', 'no-store');

  try {
    if (!action && ctx.method === 'GET') {
      const { uid, prompt, params } = await provider.interactionDetails(ctx.req, ctx.res);
      const client = await provider.Client.find(params.client_id);
      ctx.type = 'html';
      switch (prompt.name) {
        case 'login':
          ctx.body = loginPage({ uid, params, client });
          return undefined;
        case 'consent':
          ctx.body = consentPage({
            uid, params, client, details: prompt.details,
          });
          return undefined;
        default:
          ctx.throw(501, `prompt ${prompt.name} not implemented`);
      }
    }

    if (action === 'login' && ctx.method === 'POST') {
      const form = await readForm(ctx);
      const { uid, prompt, params } = await provider.interactionDetails(ctx.req, ctx.res);
      if (prompt.name !== 'login') {
        ctx.throw(400, 'this interaction is not asking for a login');
      }
      if (form.get('login') !== USERNAME || form.get('password') !== PASSWORD) {
        const client = await provider.Client.find(params.client_id);
        ctx.type = 'html';
        ctx.body = loginPage({
          uid, params: { ...params, login_hint: form.get('login') ?? '' }, client, error: 'Invalid username or password.',
        });
        return undefined;
      }
      await provider.interactionFinished(ctx.req, ctx.res, {
        login: { accountId: USERNAME },
      }, { mergeWithLastSubmission: false });
      return undefined;
    }

    if (action === 'confirm' && ctx.method === 'POST') {
      await readForm(ctx);
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      const { prompt, params, session } = details;
      if (prompt.name !== 'consent') {
        ctx.throw(400, 'this interaction is not asking for consent');
      }
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      if (prompt.details.missingOIDCScope) {
        grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
      }
      if (prompt.details.missingOIDCClaims) {
        grant.addOIDCClaims(prompt.details.missingOIDCClaims);
      }
      if (prompt.details.missingResourceScopes) {
        for (const [indicator, scope] of Object.entries(prompt.details.missingResourceScopes)) {
          grant.addResourceScope(indicator, scope.join(' '));
        }
      }
      const grantId = await grant.save();
      const consent = details.grantId ? {} : { grantId };
      await provider.interactionFinished(ctx.req, ctx.res, { consent }, { mergeWithLastSubmission: true });
      return undefined;
    }

    if (action === 'abort' && (ctx.method === 'GET' || ctx.method === 'POST')) {
      if (ctx.method === 'POST') await readForm(ctx);
      await provider.interactionFinished(ctx.req, ctx.res, {
        error: 'access_denied',
        error_description: 'End-User aborted interaction',
      }, { mergeWithLastSubmission: false });
      return undefined;
    }

    ctx.throw(405, 'method not allowed');
  } catch (err) {
    if (err instanceof errors.SessionNotFound) {
      ctx.status = err.status;
      await renderError(ctx, { error: err.message, error_description: err.error_description });
      return undefined;
    }
    throw err;
  }
  return undefined;
});

// --- HTTPS ------------------------------------------------------------------------------------

const server = https.createServer({
  cert: fs.readFileSync(CERT_FILE),
  key: fs.readFileSync(KEY_FILE),
}, provider.callback());

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
