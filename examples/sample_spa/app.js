// Sesame sample SPA: a public OpenID Connect client (authorization code flow, PKCE S256) built on
// oidc-client-ts' browser build (the global `oidc`). No framework, no build step.
'use strict';

(function () {
  // serve.mjs writes these into /config.js from its environment; the defaults match
  // `sesame serve --demo` and the demo's `demo-spa` application.
  var ISSUER = String(window.SESAME_ISSUER || 'http://localhost:9090/t/demo').replace(/\/+$/, '');
  var APP_URL = String(window.SPA_URL || 'http://localhost:5173/');
  var APP_ORIGIN = new URL(APP_URL).origin;

  var el = function (id) { return document.getElementById(id); };

  function show(node, visible) { node.hidden = !visible; }

  function setStatus(text) {
    el('status').textContent = text;
    show(el('status'), Boolean(text));
  }

  function showError(text) {
    el('error').textContent = text;
    show(el('error'), Boolean(text));
  }

  // A readable message for what oidc-client-ts throws: an ErrorResponse carries the OAuth
  // `error` (e.g. access_denied) and `error_description` from the redirect.
  function describe(err) {
    if (err && err.error) {
      return err.error + (err.error_description ? ': ' + err.error_description : '');
    }
    if (err && err.message) {
      return err.message === 'Failed to fetch'
        ? 'could not reach Sesame at ' + ISSUER + ' (is it running?)'
        : err.message;
    }
    return String(err);
  }

  function pretty(value) { return JSON.stringify(value, null, 2); }

  el('issuer').textContent = ISSUER;

  // The redirect URI is registered for one origin (http://localhost:5173): sign-in state is
  // kept per origin, so the page has to be opened there.
  if (window.location.origin !== APP_ORIGIN) {
    if (window.location.pathname === '/' && !window.location.search) {
      window.location.replace(APP_URL);
      return;
    }
    setStatus('');
    showError('Open this app at ' + APP_URL + ': that is the origin of its registered redirect URI.');
    return;
  }

  if (!window.oidc || !window.oidc.UserManager) {
    setStatus('');
    showError('oidc-client-ts did not load: run `npm ci` in examples/sample_spa and restart serve.mjs.');
    return;
  }

  var userManager = new window.oidc.UserManager({
    authority: ISSUER,
    client_id: 'demo-spa', // a public client: no secret
    redirect_uri: new URL('callback', APP_URL).href,
    post_logout_redirect_uri: APP_URL,
    response_type: 'code', // PKCE with S256 is on by default
    scope: 'openid profile email phone',
    userStore: new window.oidc.WebStorageStateStore({ store: window.sessionStorage }),
    // Keep every claim the ID token carries (amr, acr, auth_time, sid, ...) in user.profile.
    filterProtocolClaims: false,
    // No silent renew and no session monitoring: both use iframes, and Sesame forbids framing.
    automaticSilentRenew: false,
    monitorSession: false,
    // UserInfo is called by this page itself (below), to show the raw response.
    loadUserInfo: false,
  });

  function renderSignedOut(justSignedOut, note) {
    setStatus(note || '');
    show(el('signed-in-view'), false);
    show(el('signed-out'), Boolean(justSignedOut));
    show(el('signed-out-view'), true);
    el('sign-in').disabled = false;
  }

  function renderSignedIn(user) {
    var profile = user.profile || {};
    setStatus('');
    show(el('signed-out-view'), false);
    el('sub').textContent = profile.sub || '';
    el('name').textContent = profile.name || profile.preferred_username || '—';
    el('amr').textContent = Array.isArray(profile.amr) ? profile.amr.join(', ') : (profile.amr || '—');
    el('acr').textContent = profile.acr || '—';
    el('expires').textContent = user.expires_at
      ? new Date(user.expires_at * 1000).toLocaleString() : '—';
    el('claims').textContent = pretty(profile);
    el('sign-out').disabled = false;
    show(el('signed-in-view'), true);
    loadUserInfo(user);
  }

  // GET the UserInfo endpoint (from discovery) with the access token as a bearer token.
  // Sesame answers CORS for the origins of the application's redirect URIs.
  async function loadUserInfo(user) {
    var out = el('userinfo');
    out.setAttribute('aria-busy', 'true');
    out.textContent = 'Loading…';
    try {
      var endpoint = await userManager.metadataService.getUserInfoEndpoint();
      var res = await fetch(endpoint, {
        headers: { Authorization: 'Bearer ' + user.access_token, Accept: 'application/json' },
        credentials: 'omit',
        cache: 'no-store',
      });
      var body = await res.text();
      if (!res.ok) {
        var challenge = res.headers.get('WWW-Authenticate');
        out.textContent = 'HTTP ' + res.status + (challenge ? '\nWWW-Authenticate: ' + challenge : '') +
          (body ? '\n\n' + body : '');
        return;
      }
      try {
        var claims = JSON.parse(body);
        out.textContent = pretty(claims);
        // With an access token issued, the profile claims come from UserInfo, not the ID token.
        if (el('name').textContent === '—' && (claims.name || claims.preferred_username)) {
          el('name').textContent = claims.name || claims.preferred_username;
        }
      } catch (_) {
        out.textContent = body; // e.g. a signed UserInfo response (application/jwt)
      }
    } catch (err) {
      out.textContent = 'UserInfo request failed: ' + describe(err);
    } finally {
      out.setAttribute('aria-busy', 'false');
    }
  }

  el('sign-in').addEventListener('click', async function () {
    showError('');
    el('sign-in').disabled = true;
    setStatus('Redirecting to Sesame…');
    try {
      await userManager.signinRedirect();
    } catch (err) {
      setStatus('');
      el('sign-in').disabled = false;
      showError('Could not start sign-in: ' + describe(err));
    }
  });

  el('sign-out').addEventListener('click', async function () {
    showError('');
    el('sign-out').disabled = true;
    setStatus('Signing out at Sesame…');
    try {
      var user = await userManager.getUser();
      // The state comes back on the post-logout redirect, so the page can say it signed out.
      await userManager.signoutRedirect({
        id_token_hint: user ? user.id_token : undefined,
        state: { signedOut: true },
      });
    } catch (err) {
      setStatus('');
      el('sign-out').disabled = false;
      showError('Could not sign out: ' + describe(err));
    }
  });

  async function start() {
    var justSignedOut = false;
    var params = new URLSearchParams(window.location.search);

    if (window.location.pathname === '/callback') {
      // Back from Sesame's authorization endpoint: ?code=…&state=…&iss=… or ?error=…
      setStatus('Completing sign-in…');
      try {
        await userManager.signinRedirectCallback();
      } catch (err) {
        showError('Sign-in failed: ' + describe(err));
      }
      window.history.replaceState(null, '', '/');
    } else if (params.has('state') || params.has('error')) {
      // Back from Sesame's end-session endpoint at the post-logout redirect URI.
      try {
        var response = await userManager.signoutRedirectCallback();
        justSignedOut = Boolean(response && response.userState && response.userState.signedOut);
      } catch (err) {
        showError('Sign-out response: ' + describe(err));
      }
      window.history.replaceState(null, '', '/');
    }

    var user = await userManager.getUser();
    if (user && user.expired) {
      // No silent renew here: sign in again (Sesame's session usually makes that quick).
      await userManager.removeUser();
      renderSignedOut(false, 'Your access token expired: sign in again.');
    } else if (user) {
      renderSignedIn(user);
    } else {
      renderSignedOut(justSignedOut);
    }
  }

  start().catch(function (err) {
    setStatus('');
    showError('Unexpected error: ' + describe(err));
    renderSignedOut(false);
  });
})();
