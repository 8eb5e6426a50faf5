// A tiny static file server for the sample SPA (Node built-ins only).
//
//   PORT           port on 127.0.0.1 (default 5173)
//   SESAME_ISSUER  the issuer to sign in at (default http://localhost:9090/t/demo)
//   SPA_URL        the URL the app is opened at (default http://localhost:$PORT/); its
//                  `callback` is the redirect URI, itself the post-logout redirect URI
//
// It serves a fixed set of files (nothing else on disk is reachable), answers /callback with
// index.html, generates /config.js from the environment, sends a strict Content-Security-Policy,
// and prints `ready` on stdout once listening.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

// import.meta.dirname needs Node 20.11; the fallback covers older 20.x.
const here = import.meta.dirname ?? path.dirname(decodeURIComponent(new URL(import.meta.url).pathname));
const port = Number(process.env.PORT || 5173);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  fail(`PORT must be a port number, got ${JSON.stringify(process.env.PORT)}`);
}

const issuer = parseUrl('SESAME_ISSUER', process.env.SESAME_ISSUER || 'http://localhost:9090/t/demo');
const appUrl = parseUrl('SPA_URL', process.env.SPA_URL || `http://localhost:${port}/`);
const issuerHref = issuer.href.replace(/\/+$/, '');
if (appUrl.pathname !== '/') {
  fail(`SPA_URL must be the root of an origin (the app is served at /), got ${appUrl.href}`);
}

const LIBRARY = 'node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js';
if (!fs.existsSync(path.join(here, LIBRARY))) {
  fail(`${LIBRARY} is missing: run \`npm ci\` in ${here} first`);
}

// URL path -> [file under this folder, content type]. Nothing else is served.
const FILES = new Map([
  ['/', ['index.html', 'text/html; charset=utf-8']],
  ['/index.html', ['index.html', 'text/html; charset=utf-8']],
  ['/callback', ['index.html', 'text/html; charset=utf-8']],
  ['/app.js', ['app.js', 'text/javascript; charset=utf-8']],
  ['/style.css', ['style.css', 'text/css; charset=utf-8']],
  [`/${LIBRARY}`, [LIBRARY, 'text/javascript; charset=utf-8']],
  [`/${LIBRARY}.map`, [`${LIBRARY}.map`, 'application/json; charset=utf-8']],
]);

// Values for app.js, as JavaScript string literals (JSON, with `<` escaped for good measure).
const literal = (s) => JSON.stringify(s).replace(/</g, '\\u003c');
const CONFIG_JS =
  `window.SESAME_ISSUER = ${literal(issuerHref)};\n` +
  `window.SPA_URL = ${literal(appUrl.href)};\n`;

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  `connect-src ${issuer.origin}`, // discovery, token, UserInfo: all at the issuer
  "frame-src 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
  "base-uri 'none'",
  "object-src 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  // The callback URL carries the authorization code: never send it anywhere as a Referer.
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

const server = http.createServer((req, res) => {
  const pathname = new URL(req.url || '/', 'http://localhost').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, req, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', { Allow: 'GET, HEAD' });
  }
  if (pathname === '/config.js') {
    return send(res, req, 200, 'text/javascript; charset=utf-8', CONFIG_JS);
  }
  if (pathname === '/favicon.ico') {
    return send(res, req, 204, null, '');
  }
  const entry = FILES.get(pathname);
  if (!entry) {
    return send(res, req, 404, 'text/plain; charset=utf-8', 'Not Found\n');
  }
  fs.readFile(path.join(here, entry[0]), (err, body) => {
    if (err) {
      console.error(`serve.mjs: cannot read ${entry[0]}: ${err.message}`);
      return send(res, req, 500, 'text/plain; charset=utf-8', 'Internal Server Error\n');
    }
    send(res, req, 200, entry[1], body);
  });
});

server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
server.listen(port, '127.0.0.1', () => {
  console.error(`Sesame sample SPA: open ${appUrl.href} (issuer ${issuerHref})`);
  console.log('ready');
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

function send(res, req, status, type, body, extra = {}) {
  const headers = { ...SECURITY_HEADERS, ...extra };
  if (type) {
    headers['Content-Type'] = type;
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

function parseUrl(name, value) {
  let url;
  try {
    url = new URL(value);
  } catch {
    fail(`${name} must be an absolute URL, got ${JSON.stringify(value)}`);
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.search || url.hash || url.username) {
    fail(`${name} must be an http(s) URL without query, fragment or credentials, got ${JSON.stringify(value)}`);
  }
  return url;
}

function fail(message) {
  console.error(`serve.mjs: ${message}`);
  process.exit(1);
}
