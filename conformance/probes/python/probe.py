"""Conformance probe: a scripted OpenID Connect authorization code flow against Sesame, with the
protocol work done by Authlib (OAuth2Session over requests, its OpenID Connect claim classes, and
joserfc, the JOSE library Authlib itself uses to verify ID tokens).

Prints one line per check (``PASS <name>`` or ``FAIL <name>: <reason>``) and, as its last line, a
JSON summary. Exits 0 only if every check passed. Inputs come from the environment (no defaults):
ISSUER, CA_FILE, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_REDIRECT_URI, USERNAME,
PASSWORD. See ../README.md.

What Authlib checks by itself here: the discovery document's fields
(``OpenIDProviderMetadata.validate``, with the RFC 9207 and RP-Initiated Logout extensions), PKCE
S256 (``code_challenge_method``), ``state`` in the authorization response (``fetch_token``), the ID
token (``joserfc.jwt.decode`` against the JWKS, restricted to the advertised algorithms, then
``CodeIDToken.validate``: iss, aud, sub, exp, iat, nonce, azp, at_hash, amr type). Authlib's
client has no RFC 9207 check and no UserInfo ``sub`` check, so the probe makes those, as well as
the issuer match of discovery, amr, the claims' values, code replay and logout.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import sys
import traceback
from importlib.metadata import version
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.common.urls import add_params_to_uri
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2 import rfc9207
from authlib.oidc import rpinitiated
from authlib.oidc.core import CodeIDToken, UserInfo
from authlib.oidc.discovery import OpenIDProviderMetadata, get_well_known_url
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

SCOPE = "openid profile email phone address"
EXPECTED_EMAIL = "conformance-user@sesame.example"
EXPECTED_NAME = "Connie Formance"
TIMEOUT = 15
LEEWAY = 60

# Every check the probe makes, in order (the same names as the Node probe): one that could not run
# (an earlier step failed) is reported as failed, so the totals are the same on every run.
PLAN = [
    "config",
    "discovery",
    "authorization-url",
    "sign-in",
    "code-exchange",
    "id-token-sub",
    "id-token-amr-pwd",
    "id-token-at-hash",
    "userinfo",
    "userinfo-email",
    "userinfo-name",
    "refresh",
    "refresh-id-token-sub",
    "refresh-userinfo",
    "code-replay-first-exchange",
    "code-replay-invalid-grant",
    "code-replay-revokes-access-token",
    "code-replay-revokes-refresh-token",
    "logout-precondition",
    "logout-redirect",
    "logout-revokes-access-token",
    "logout-ends-session",
]

ENV_NAMES = [
    "ISSUER",
    "CA_FILE",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "REDIRECT_URI",
    "POST_LOGOUT_REDIRECT_URI",
    "USERNAME",
    "PASSWORD",
]

results: dict[str, dict] = {}


class Failure(Exception):
    """Raised by a check that fails: its message is the reason."""


class Abort(Exception):
    """Stops the run after a failed check that later steps depend on."""


def expect(cond, reason: str) -> None:
    if not cond:
        raise Failure(reason)


def one_line(detail) -> str:
    s = detail if isinstance(detail, str) else json.dumps(detail)
    return " ".join(s.split())


def record(name: str, ok: bool, detail) -> None:
    if name not in PLAN:
        raise RuntimeError(f"unplanned check {name}")
    results[name] = {"name": name, "ok": ok, "detail": detail}
    print(f"PASS {name}" if ok else f"FAIL {name}: {one_line(detail)}", flush=True)


def describe(err: BaseException) -> str:
    bits = [type(err).__name__]
    error = getattr(err, "error", None)
    if error:
        bits.append(f"error={error}")
    description = getattr(err, "description", None)
    if description:
        bits.append(f"description={description}")
    text = str(err)
    if text and not error:
        bits.append(text)
    return " ".join(bits)


def check(name: str, fn, required: bool = False) -> bool:
    """Runs a check: fn returns the detail of a pass, or raises. A failed required check aborts."""
    try:
        detail = fn()
    except Failure as err:
        record(name, False, str(err))
    except Exception as err:  # noqa: BLE001 - any error of the library or the network is a FAIL
        record(name, False, describe(err))
    else:
        record(name, True, detail)
        return True
    if required:
        raise Abort(name)
    return False


def finish() -> None:
    first_failure = None
    for name in PLAN:
        if name not in results:
            record(name, False, f"not run: an earlier step failed ({first_failure or 'unknown'})")
        elif not results[name]["ok"] and first_failure is None:
            first_failure = name
    checks = [results[n] for n in PLAN]
    passed = sum(1 for c in checks if c["ok"])
    failed = len(checks) - passed
    print(
        json.dumps(
            {
                "probe": "python",
                "library": f"authlib@{version('authlib')}",
                "passed": passed,
                "failed": failed,
                "checks": checks,
            }
        ),
        flush=True,
    )
    sys.exit(0 if failed == 0 else 1)


# ------------------------------------------------------------------------------------------------


def trust_only_ca_file(session: requests.Session, ca_file: str) -> requests.Session:
    """TLS verification stays on, against CA_FILE. trust_env is off because requests lets
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's own `verify` (and would also pick up
    proxies and .netrc credentials from the environment)."""
    session.verify = ca_file
    session.trust_env = False
    return session


class Probe:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.issuer = env["ISSUER"].rstrip("/")
        self.metadata: OpenIDProviderMetadata | None = None
        self.keys: KeySet | None = None
        # The "browser": plain HTTP, redirects not followed, requests' cookie jar (it honours Path,
        # Secure and expiry).
        self.browser = trust_only_ca_file(requests.Session(), env["CA_FILE"])

    # --- Authlib clients ---------------------------------------------------------------------

    def oauth(self, token: dict | None = None) -> OAuth2Session:
        """A fresh Authlib client (one per flow or call, so no token state leaks between steps)."""
        session = OAuth2Session(
            client_id=self.env["CLIENT_ID"],
            client_secret=self.env["CLIENT_SECRET"],
            token_endpoint_auth_method="client_secret_basic",
            scope=SCOPE,
            redirect_uri=self.env["REDIRECT_URI"],
            code_challenge_method="S256",
            token=token,
            default_timeout=TIMEOUT,
        )
        trust_only_ca_file(session, self.env["CA_FILE"])
        return session

    def discover(self):
        url = get_well_known_url(self.issuer, external=True)
        with self.oauth() as s:
            resp = s.get(url, withhold_token=True)
            resp.raise_for_status()
            doc = resp.json()
            metadata = OpenIDProviderMetadata(doc)
            metadata.validate(
                metadata_classes=[
                    rfc9207.AuthorizationServerMetadata,
                    rpinitiated.OpenIDProviderMetadata,
                ]
            )
            # OIDC Discovery §4.3: the issuer must be exactly the one the document was asked of.
            expect(metadata["issuer"] == self.issuer, f"issuer {metadata['issuer']!r}")
            expect("S256" in metadata.get("code_challenge_methods_supported", []), "no S256")
            expect(
                metadata.get("authorization_response_iss_parameter_supported") is True,
                "authorization_response_iss_parameter_supported is not true",
            )
            expect(metadata.get("end_session_endpoint"), "no end_session_endpoint")
            expect(metadata.get("userinfo_endpoint"), "no userinfo_endpoint")
            jwks = s.get(metadata["jwks_uri"], withhold_token=True)
            jwks.raise_for_status()
            self.keys = KeySet.import_key_set(jwks.json())
        self.metadata = metadata
        return {"issuer": metadata["issuer"], "keys": len(self.keys.keys)}

    def start_flow(self) -> dict:
        code_verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(24)
        with self.oauth() as s:
            url, state = s.create_authorization_url(
                self.metadata["authorization_endpoint"],
                code_verifier=code_verifier,
                nonce=nonce,
            )
        return {"url": url, "state": state, "nonce": nonce, "code_verifier": code_verifier}

    def exchange(self, callback: str, flow: dict) -> dict:
        """Code exchange: Authlib checks state; the probe checks iss (RFC 9207) first."""
        params = parse_qs(urlsplit(callback).query)
        expect(
            params.get("iss") == [self.metadata["issuer"]],
            f"authorization response iss is {params.get('iss')}, expected {self.metadata['issuer']}",
        )
        with self.oauth() as s:
            token = s.fetch_token(
                self.metadata["token_endpoint"],
                authorization_response=callback,
                state=flow["state"],
                code_verifier=flow["code_verifier"],
            )
        return dict(token)

    def validate_id_token(self, token: dict, nonce: str | None) -> CodeIDToken:
        """What Authlib's OpenIDMixin.parse_id_token does, with aud and sub made essential too."""
        algs = self.metadata.get("id_token_signing_alg_values_supported")
        decoded = jwt.decode(
            token["id_token"],
            key=self.keys,
            registry=JWSRegistry(algorithms=algs, strict_check_header=False),
        )
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "value": self.metadata["issuer"]},
                "aud": {"essential": True, "value": self.env["CLIENT_ID"]},
                "sub": {"essential": True},
            },
            {
                "nonce": nonce,
                "client_id": self.env["CLIENT_ID"],
                "access_token": token.get("access_token"),
            },
        )
        claims.validate(leeway=LEEWAY)
        return claims

    def userinfo(self, access_token: str, sub: str) -> UserInfo:
        with self.oauth({"access_token": access_token, "token_type": "Bearer"}) as s:
            resp = s.get(self.metadata["userinfo_endpoint"])
            if resp.status_code != 200:
                raise Failure(
                    f"UserInfo answered {resp.status_code}"
                    f" ({resp.headers.get('WWW-Authenticate', 'no WWW-Authenticate')})"
                )
            info = UserInfo(resp.json())
        # OIDC Core §5.3.2: the sub in the UserInfo response must match the ID token's.
        expect(info.get("sub") == sub, f"UserInfo sub {info.get('sub')!r}, ID token sub {sub!r}")
        return info

    def expect_userinfo_refused(self, access_token: str) -> str:
        with self.oauth({"access_token": access_token, "token_type": "Bearer"}) as s:
            resp = s.get(self.metadata["userinfo_endpoint"])
        expect(
            resp.status_code == 401,
            f"UserInfo answered {resp.status_code} to the access token, expected 401",
        )
        return f"401 {resp.headers.get('WWW-Authenticate', '(no WWW-Authenticate)')}"

    def refresh(self, refresh_token: str) -> dict:
        with self.oauth() as s:
            return dict(s.refresh_token(self.metadata["token_endpoint"], refresh_token=refresh_token))

    def expect_refresh_refused(self, refresh_token: str) -> str:
        try:
            self.refresh(refresh_token)
        except OAuthError as err:
            expect(err.error == "invalid_grant", f"refused, but not with invalid_grant: {describe(err)}")
            return f"invalid_grant ({err.description})"
        raise Failure("the refresh token still works")

    # --- the browser -------------------------------------------------------------------------

    def get(self, url: str) -> requests.Response:
        return self.browser.get(url, allow_redirects=False, timeout=TIMEOUT)

    def is_redirect_uri(self, location: str | None) -> bool:
        if not location:
            return False
        u = urlsplit(location)
        return f"{u.scheme}://{u.netloc}{u.path}" == self.env["REDIRECT_URI"]

    def sign_in(self, authorization_url: str) -> tuple[str, list[str]]:
        """Follows an authorization URL as a browser would, signing in if Sesame asks."""
        steps = []
        first = self.get(authorization_url)
        steps.append(f"authorize {first.status_code}")
        expect(first.status_code == 303, f"authorization request answered {first.status_code}")
        location = requests.compat.urljoin(authorization_url, first.headers.get("Location", ""))
        if self.is_redirect_uri(location):
            return location, steps + ["session reused"]
        u = urlsplit(location)
        expect(
            f"{u.scheme}://{u.netloc}{u.path}" == f"{self.issuer}/login" and "tx=" in u.query,
            f"authorization request redirected to {location!r}, expected {self.issuer}/login?tx=...",
        )
        page = self.get(location)
        steps.append(f"login page {page.status_code}")
        expect(page.status_code == 200, f"sign-in page answered {page.status_code}")
        tx, csrf = hidden_input(page.text, "tx"), hidden_input(page.text, "csrf")
        expect(tx and csrf, "sign-in page has no hidden tx/csrf inputs")
        posted = self.browser.post(
            f"{self.issuer}/login",
            data={
                "tx": tx,
                "csrf": csrf,
                "username": self.env["USERNAME"],
                "password": self.env["PASSWORD"],
            },
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        steps.append(f"sign-in POST {posted.status_code}")
        back = posted.headers.get("Location")
        expect(
            posted.status_code == 303 and self.is_redirect_uri(back),
            f"sign-in answered {posted.status_code} to {back!r} (expected 303 to"
            f" {self.env['REDIRECT_URI']}); page says: {page_message(posted.text)}",
        )
        return back, steps


def hidden_input(page: str, name: str) -> str | None:
    tag = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', page, re.I)
    value = tag and re.search(r'value="([^"]*)"', tag.group(0), re.I)
    return html.unescape(value.group(1)) if value else None


def page_message(page: str) -> str:
    m = re.search(r'class="error"[^>]*>([\s\S]*?)<', page) or re.search(
        r"<title>([\s\S]*?)</title>", page
    )
    return html.unescape(m.group(1).strip()) if m else page[:200]


# ------------------------------------------------------------------------------------------------


def run() -> None:
    env: dict[str, str] = {}

    def configure():
        missing = [n for n in ENV_NAMES if not os.environ.get(n)]
        expect(not missing, f"missing environment variables: {', '.join(missing)}")
        env.update({n: os.environ[n] for n in ENV_NAMES})
        expect(os.path.isfile(env["CA_FILE"]), f"CA_FILE {env['CA_FILE']} is not a file")
        return {"issuer": env["ISSUER"], "client_id": env["CLIENT_ID"]}

    check("config", configure, required=True)
    p = Probe(env)

    # 1. Discovery.
    check("discovery", p.discover, required=True)

    # 2. Authorization URL.
    flow: dict = {}

    def authorization_url():
        flow.update(p.start_flow())
        u = urlsplit(flow["url"])
        expect(
            f"{u.scheme}://{u.netloc}{u.path}" == p.metadata["authorization_endpoint"],
            f"URL {flow['url']} is not at the authorization_endpoint",
        )
        q = parse_qs(u.query)
        expect(q.get("code_challenge_method") == ["S256"], "no S256 challenge")
        expect(q.get("nonce") == [flow["nonce"]] and q.get("state") == [flow["state"]], "no state/nonce")
        return f"{p.metadata['authorization_endpoint']}?{'&'.join(q)}"

    check("authorization-url", authorization_url, required=True)

    # 3. The browser signs in.
    got: dict = {}

    def sign_in():
        got["callback"], steps = p.sign_in(flow["url"])
        q = parse_qs(urlsplit(got["callback"]).query)
        expect(q.get("code"), f"no code in {got['callback']}")
        return f"{', '.join(steps)}; back with {', '.join(q)}"

    check("sign-in", sign_in, required=True)

    # 4. Code exchange and ID token validation.
    def code_exchange():
        got["tokens"] = tokens = p.exchange(got["callback"], flow)
        expect(tokens.get("id_token"), "no ID token")
        expect(tokens.get("access_token"), "no access token")
        expect(tokens.get("refresh_token"), "no refresh token")
        got["claims"] = claims = p.validate_id_token(tokens, flow["nonce"])
        return {
            "alg": claims.header.get("alg"),
            "kid": claims.header.get("kid"),
            "token_type": tokens.get("token_type"),
            "scope": tokens.get("scope"),
        }

    check("code-exchange", code_exchange, required=True)
    tokens, claims = got["tokens"], got["claims"]
    sub = claims.get("sub")

    def id_token_sub():
        expect(isinstance(sub, str) and sub, "no sub")
        return sub

    def id_token_amr():
        amr = claims.get("amr")
        expect(isinstance(amr, list) and "pwd" in amr, f"amr is {amr!r}")
        return amr

    def id_token_at_hash():
        # CodeIDToken.validate (above) already compared at_hash with the access token.
        if "at_hash" not in claims:
            return "absent (optional in the code flow)"
        return "matches (checked by authlib CodeIDToken.validate_at_hash)"

    check("id-token-sub", id_token_sub)
    check("id-token-amr-pwd", id_token_amr)
    check("id-token-at-hash", id_token_at_hash)

    # 5. UserInfo.
    def userinfo():
        got["info"] = info = p.userinfo(tokens["access_token"], sub)
        return f"sub matches; claims {','.join(sorted(info))}"

    if check("userinfo", userinfo):
        info = got["info"]

        def email():
            expect(info.get("email") == EXPECTED_EMAIL, f"email is {info.get('email')!r}")
            return info["email"]

        def name():
            expect(info.get("name") == EXPECTED_NAME, f"name is {info.get('name')!r}")
            return info["name"]

        check("userinfo-email", email)
        check("userinfo-name", name)

    # 6. Refresh.
    def refresh():
        got["refreshed"] = r = p.refresh(tokens["refresh_token"])
        expect(r.get("access_token"), "no access token")
        expect(r["access_token"] != tokens["access_token"], "the same access token came back")
        return {
            "id_token": bool(r.get("id_token")),
            "refresh_token_rotated": bool(r.get("refresh_token"))
            and r["refresh_token"] != tokens["refresh_token"],
        }

    check("refresh", refresh, required=True)
    refreshed = got["refreshed"]

    def refresh_id_token_sub():
        if not refreshed.get("id_token"):
            return "no ID token in the refresh response"
        # OIDC Core §12.2: no nonce is expected in a refreshed ID token; the rest is checked.
        c = p.validate_id_token(refreshed, None)
        expect(c["sub"] == sub, f"sub {c['sub']!r}, was {sub!r}")
        return "validated by authlib; same sub"

    def refresh_userinfo():
        i = p.userinfo(refreshed["access_token"], sub)
        return f"sub matches; email {i.get('email')}"

    check("refresh-id-token-sub", refresh_id_token_sub)
    check("refresh-userinfo", refresh_userinfo)

    # 7. Code replay, on a second authorization in the same browser (Sesame reuses the session) so
    # that the revocation it should cause (RFC 6749 §4.1.2) does not touch the tokens of steps 4-6,
    # which step 8 needs alive.
    flow2 = p.start_flow()

    def first_exchange():
        got["callback2"], steps = p.sign_in(flow2["url"])
        got["tokens2"] = t2 = p.exchange(got["callback2"], flow2)
        c2 = p.validate_id_token(t2, flow2["nonce"])
        expect(c2["sub"] == sub, "a different user")
        expect(t2.get("refresh_token"), "no refresh token")
        return f"{', '.join(steps)}; exchanged"

    check("code-replay-first-exchange", first_exchange, required=True)
    tokens2 = got["tokens2"]

    def replay():
        try:
            p.exchange(got["callback2"], flow2)
        except OAuthError as err:
            expect(err.error == "invalid_grant", f"refused, but not with invalid_grant: {describe(err)}")
            return f"invalid_grant ({err.description})"
        raise Failure("the same code was exchanged twice")

    check("code-replay-invalid-grant", replay)
    # RFC 6749 §4.1.2 says SHOULD revoke; Sesame does it (its token endpoint revokes the grant of
    # a spent code), so the probe treats it as required.
    check("code-replay-revokes-access-token", lambda: p.expect_userinfo_refused(tokens2["access_token"]))
    check(
        "code-replay-revokes-refresh-token",
        lambda: p.expect_refresh_refused(tokens2["refresh_token"]),
    )

    # 8. RP-initiated logout.
    def precondition():
        # The step-6 token still works, so that its refusal after logout is the logout's doing.
        p.userinfo(refreshed["access_token"], sub)
        return "the step-6 access token is accepted before logout"

    check("logout-precondition", precondition)
    logout_state = secrets.token_urlsafe(16)

    def logout():
        # Authlib's client helper (OpenIDMixin.create_logout_url) belongs to its web-framework
        # integrations; this is the same construction with the same Authlib URL helper.
        url = add_params_to_uri(
            p.metadata["end_session_endpoint"],
            {
                "id_token_hint": refreshed.get("id_token") or tokens["id_token"],
                "post_logout_redirect_uri": env["POST_LOGOUT_REDIRECT_URI"],
                "state": logout_state,
            },
        )
        r = p.get(url)
        loc = r.headers.get("Location")
        expect(
            r.status_code == 303,
            f"end_session_endpoint answered {r.status_code} to {loc!r}: {page_message(r.text)}",
        )
        u = urlsplit(loc)
        expect(
            f"{u.scheme}://{u.netloc}{u.path}" == env["POST_LOGOUT_REDIRECT_URI"],
            f"redirected to {loc}",
        )
        expect(parse_qs(u.query).get("state") == [logout_state], f"state in {loc}")
        left = ",".join(sorted(c.name for c in p.browser.cookies)) or "none"
        return f"303 to {env['POST_LOGOUT_REDIRECT_URI']}?state=...; cookies left: {left}"

    check("logout-redirect", logout, required=True)
    check(
        "logout-revokes-access-token",
        lambda: p.expect_userinfo_refused(refreshed["access_token"]),
    )

    def session_ended():
        r = p.get(p.start_flow()["url"])
        expect(r.status_code == 303, f"authorization request answered {r.status_code}")
        loc = r.headers.get("Location", "")
        expect(not p.is_redirect_uri(loc), "the browser was signed in without credentials")
        u = urlsplit(loc)
        expect(f"{u.scheme}://{u.netloc}{u.path}" == f"{p.issuer}/login", f"redirected to {loc}")
        return "a new authorization request goes to the sign-in page"

    check("logout-ends-session", session_ended)


def main() -> None:
    try:
        run()
    except Abort:
        pass
    except Exception as err:  # noqa: BLE001 - a bug in the probe: fail the check that was running
        running = next((n for n in PLAN if n not in results), "config")
        record(running, False, f"probe error: {describe(err)}")
        traceback.print_exc(file=sys.stderr)
    finish()


if __name__ == "__main__":
    main()
