//! The modules of the suite's `oidcc-basic-certification-test-plan` (static client, code flow).
//! Each function's doc says what the module checks, in our words; severities and skips follow
//! the suite's source (see README.md). Every module starts with a fresh browser.

use serde_json::Value;

use crate::browser::{Answer, Mode};
use crate::ctx::{Auth, Ctx, Params, UserInfoCall, now};
use crate::report::ModuleLog;

pub const MODULES: &[&str] = &[
    "oidcc-server",
    "oidcc-response-type-missing",
    "oidcc-idtoken-signature",
    "oidcc-idtoken-unsigned",
    "oidcc-userinfo-get",
    "oidcc-userinfo-post-header",
    "oidcc-userinfo-post-body",
    "oidcc-ensure-request-without-nonce-succeeds-for-code-flow",
    "oidcc-scope-profile",
    "oidcc-scope-email",
    "oidcc-scope-address",
    "oidcc-scope-phone",
    "oidcc-scope-all",
    "oidcc-alternate-happy-flow",
    "oidcc-display-page",
    "oidcc-display-popup",
    "oidcc-prompt-login",
    "oidcc-prompt-none-not-logged-in",
    "oidcc-prompt-none-logged-in",
    "oidcc-max-age-1",
    "oidcc-max-age-10000",
    "oidcc-ensure-request-with-unknown-parameter-succeeds",
    "oidcc-id-token-hint",
    "oidcc-login-hint",
    "oidcc-ui-locales",
    "oidcc-claims-locales",
    "oidcc-ensure-request-with-acr-values-succeeds",
    "oidcc-codereuse",
    "oidcc-codereuse-30seconds",
    "oidcc-ensure-registered-redirect-uri",
    "oidcc-ensure-post-request-succeeds",
    "oidcc-server-client-secret-post",
    "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported",
    "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported",
    "oidcc-claims-essential",
    "oidcc-ensure-request-object-with-redirect-uri",
    "oidcc-refresh-token",
    "oidcc-ensure-request-with-valid-pkce-succeeds",
];

pub async fn run(name: &str, ctx: &Ctx, log: &mut ModuleLog) {
    let c = &ctx.t.client;
    let auth = if name == "oidcc-server-client-secret-post" {
        Auth::Post
    } else {
        Auth::Basic
    };
    if !ctx.configure(log, auth) {
        return;
    }
    match name {
        "oidcc-server" => server(ctx, log).await,
        "oidcc-display-page"
        | "oidcc-display-popup"
        | "oidcc-ensure-request-with-unknown-parameter-succeeds"
        | "oidcc-login-hint"
        | "oidcc-ui-locales"
        | "oidcc-claims-locales"
        | "oidcc-userinfo-get" => {
            happy(ctx, log, extra_for(name, ctx), UserInfoCall::GetHeader).await
        }
        "oidcc-userinfo-post-header" => happy(ctx, log, &[], UserInfoCall::PostHeader).await,
        "oidcc-userinfo-post-body" => happy(ctx, log, &[], UserInfoCall::PostBody).await,
        "oidcc-idtoken-signature" => idtoken_signature(ctx, log).await,
        "oidcc-ensure-request-with-acr-values-succeeds" => acr_values(ctx, log).await,
        "oidcc-idtoken-unsigned" => idtoken_unsigned(ctx, log).await,
        "oidcc-response-type-missing" => response_type_missing(ctx, log).await,
        "oidcc-ensure-request-without-nonce-succeeds-for-code-flow" => {
            without_nonce(ctx, log).await
        }
        "oidcc-scope-profile" => scope(ctx, log, &["profile"]).await,
        "oidcc-scope-email" => scope(ctx, log, &["email"]).await,
        "oidcc-scope-address" => scope(ctx, log, &["address"]).await,
        "oidcc-scope-phone" => scope(ctx, log, &["phone"]).await,
        "oidcc-scope-all" => scope(ctx, log, &["profile", "email", "address", "phone"]).await,
        "oidcc-alternate-happy-flow" => alternate_happy_flow(ctx, log).await,
        "oidcc-prompt-login" => prompt_login(ctx, log).await,
        "oidcc-prompt-none-not-logged-in" => prompt_none_not_logged_in(ctx, log).await,
        "oidcc-prompt-none-logged-in" => prompt_none_logged_in(ctx, log).await,
        "oidcc-max-age-1" => max_age(ctx, log, 1).await,
        "oidcc-max-age-10000" => max_age(ctx, log, 10_000).await,
        "oidcc-id-token-hint" => id_token_hint(ctx, log).await,
        "oidcc-codereuse" => code_reuse(ctx, log, 0).await,
        "oidcc-codereuse-30seconds" => code_reuse(ctx, log, 30).await,
        "oidcc-ensure-registered-redirect-uri" => unregistered_redirect_uri(ctx, log).await,
        "oidcc-ensure-post-request-succeeds" => post_request(ctx, log).await,
        "oidcc-server-client-secret-post" => {
            let client = ctx.t.client_secret_post.clone();
            let browser = ctx.browser();
            if let Some((tokens, ..)) = ctx.code_flow(log, &browser, &client, Auth::Post, &[]).await
            {
                ctx.check_userinfo(log, &tokens, UserInfoCall::GetHeader)
                    .await;
            }
        }
        "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported" => {
            request_uri(ctx, log).await
        }
        "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported" => {
            request_object(ctx, log, false).await
        }
        "oidcc-ensure-request-object-with-redirect-uri" => request_object(ctx, log, true).await,
        "oidcc-claims-essential" => claims_essential(ctx, log).await,
        "oidcc-refresh-token" => refresh_token(ctx, log).await,
        "oidcc-ensure-request-with-valid-pkce-succeeds" => pkce(ctx, log).await,
        other => log.interrupt(format!("no module {other} (client {})", c.id)),
    }
}

/// The extra authorization parameters of the modules that are a plain happy flow with one
/// more parameter.
fn extra_for(name: &str, _ctx: &Ctx) -> Params<'static> {
    match name {
        "oidcc-display-page" => &[("display", Some("page"))],
        "oidcc-display-popup" => &[("display", Some("popup"))],
        "oidcc-ensure-request-with-unknown-parameter-succeeds" => &[("extra", Some("foobar"))],
        "oidcc-login-hint" => &[("login_hint", Some("conformance-user"))],
        "oidcc-ui-locales" => &[("ui_locales", Some("se"))],
        "oidcc-claims-locales" => &[("claims_locales", Some("se"))],
        _ => &[],
    }
}

/// A code flow that must succeed with these parameters: the authorization response, the token
/// response and the ID token pass the common checks, and UserInfo answers (the suite calls it
/// as the protected resource in every module; the userinfo modules call it once more their way).
async fn happy(ctx: &Ctx, log: &mut ModuleLog, extra: Params<'_>, how: UserInfoCall) {
    let browser = ctx.browser();
    let Some((tokens, ..)) = ctx
        .code_flow(log, &browser, &ctx.t.client, Auth::Basic, extra)
        .await
    else {
        return;
    };
    if ctx
        .check_userinfo(log, &tokens, UserInfoCall::GetHeader)
        .await
        .is_some()
        && how != UserInfoCall::GetHeader
    {
        ctx.check_userinfo(log, &tokens, how).await;
    }
}

/// oidcc-server: the plain happy flow, plus: with scope `openid` alone the ID token should not
/// carry `name` (warning); the code has at least 128 bits of length and 96 bits of estimated
/// entropy (failures); `at_hash` is checked when present (in the common checks).
async fn server(ctx: &Ctx, log: &mut ModuleLog) {
    let browser = ctx.browser();
    let Some((tokens, answer, _)) = ctx
        .code_flow(log, &browser, &ctx.t.client, Auth::Basic, &[])
        .await
    else {
        return;
    };
    log.warn(
        "EnsureIdTokenDoesNotContainName",
        !tokens.id_token.claims.contains_key("name"),
        "name in the ID token for scope openid",
    );
    if let Answer::Back { params, .. } = &answer {
        let code = params.get("code").cloned().unwrap_or_default();
        log.fail(
            "EnsureMinimumAuthorizationCodeLength (128 bits)",
            code.len() * 8 >= 128,
            format!("{} characters", code.len()),
        );
        log.fail(
            "EnsureMinimumAuthorizationCodeEntropy (96 bits)",
            entropy_bits(&code) >= 96.0,
            format!("about {:.0} bits", entropy_bits(&code)),
        );
    }
    ctx.check_userinfo(log, &tokens, UserInfoCall::GetHeader)
        .await;
}

/// Shannon entropy of the characters times the length: the suite's estimate for codes and
/// tokens.
fn entropy_bits(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    let per_char: f64 = counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_char * n
}

/// oidcc-ensure-request-without-nonce-succeeds-for-code-flow: a request without `nonce` comes
/// back with a code (the callback checks only: the suite stops there).
async fn without_nonce(ctx: &Ctx, log: &mut ModuleLog) {
    let (params, sent) = ctx.auth_request(&ctx.t.client, &[("nonce", None)]);
    match ctx.browser().open(&ctx.auth_url(&params)).await {
        Ok(answer) => {
            ctx.check_code_response(log, &answer, &sent);
        }
        Err(e) => log.interrupt(e),
    }
}

/// oidcc-ensure-request-with-acr-values-succeeds: `acr_values` with every value the provider
/// advertises (else "1 2"); the flow succeeds, and the ID token's `acr` should be one of them
/// (warning).
async fn acr_values(ctx: &Ctx, log: &mut ModuleLog) {
    let values: Vec<String> = ctx.discovery["acr_values_supported"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .filter(|v: &Vec<String>| !v.is_empty())
        .unwrap_or_else(|| vec!["1".into(), "2".into()]);
    let joined = values.join(" ");
    let browser = ctx.browser();
    let Some((tokens, ..)) = ctx
        .code_flow(
            log,
            &browser,
            &ctx.t.client,
            Auth::Basic,
            &[("acr_values", Some(&joined))],
        )
        .await
    else {
        return;
    };
    log.warn(
        "ValidateIdTokenACRClaimAgainstAcrValuesRequest",
        tokens
            .id_token
            .str("acr")
            .is_some_and(|a| values.iter().any(|v| v == a)),
        format!(
            "acr {:?}, asked one of {joined}",
            tokens.id_token.str("acr")
        ),
    );
    ctx.check_userinfo(log, &tokens, UserInfoCall::GetHeader)
        .await;
}

/// oidcc-response-type-missing: a request without `response_type` must not succeed: the
/// provider shows an error page (the user is told), or sends the browser back with
/// `invalid_request` (or `unsupported_response_type`); a code would be a failure.
async fn response_type_missing(ctx: &Ctx, log: &mut ModuleLog) {
    let (params, sent) = ctx.auth_request(&ctx.t.client, &[("response_type", None)]);
    let answer = match ctx.browser().open(&ctx.auth_url(&params)).await {
        Ok(a) => a,
        Err(e) => return log.interrupt(e),
    };
    match &answer {
        Answer::Elsewhere { url } => {
            log.fail(
                "the browser is sent to an unregistered URI",
                false,
                url.clone(),
            );
        }
        Answer::Page { status, .. } => {
            log.fail(
                "EnsureErrorPageShown (no redirect, an error status)",
                (400..500).contains(status),
                format!("HTTP {status} without an error"),
            );
        }
        Answer::Back { .. } => {
            ctx.check_error_response(
                log,
                &answer,
                &sent,
                &["invalid_request", "unsupported_response_type"],
            );
        }
    }
}

/// oidcc-idtoken-signature: the ID token carries a `kid` and is signed with RS256, the default
/// for a client that asked for nothing else. (The suite runs this module only with dynamic
/// registration; its checks hold for our static client, which is registered with the default.)
async fn idtoken_signature(ctx: &Ctx, log: &mut ModuleLog) {
    let browser = ctx.browser();
    let Some((tokens, ..)) = ctx
        .code_flow(log, &browser, &ctx.t.client, Auth::Basic, &[])
        .await
    else {
        return;
    };
    log.fail(
        "EnsureIdTokenContainsKid",
        tokens
            .id_token
            .header
            .get("kid")
            .is_some_and(Value::is_string),
        "no kid in the ID token's header",
    );
    log.fail(
        "EnsureIdTokenSignatureIsRS256",
        tokens.id_token.alg() == "RS256",
        format!("alg {}", tokens.id_token.alg()),
    );
    ctx.check_userinfo(log, &tokens, UserInfoCall::GetHeader)
        .await;
}

/// oidcc-idtoken-unsigned: an ID token with alg `none` for a client registered for it. Skipped
/// when the provider does not list `none` in id_token_signing_alg_values_supported, as in the
/// suite (which also runs it only with dynamic registration).
async fn idtoken_unsigned(ctx: &Ctx, log: &mut ModuleLog) {
    if !ctx.supports("id_token_signing_alg_values_supported", "none") {
        return log.skip("`none` is not in id_token_signing_alg_values_supported");
    }
    log.skip("needs a client registered for unsigned ID tokens (dynamic registration)");
}

/// The claims each scope asks for (OIDC Core §5.4).
fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        _ => &[],
    }
}

/// oidcc-scope-*: the scope's standard claims come back from UserInfo (OIDC Core §5.4): each
/// missing one is a warning (the user may not have it); wrongly typed claims are a failure.
/// Skipped when `scopes_supported` lacks a requested scope. The email module also checks the ID
/// token carries neither `name` nor `email` and UserInfo no `name` (warnings).
async fn scope(ctx: &Ctx, log: &mut ModuleLog, scopes: &[&str]) {
    for s in scopes {
        if !ctx.supports("scopes_supported", s) {
            return log.skip(format!("scope {s} is not in scopes_supported"));
        }
    }
    let scope = format!("openid {}", scopes.join(" "));
    returned_claims(ctx, log, scopes, &[("scope", Some(&scope))], false).await;
}

/// The returned-claims checks shared by the scope, alternate and claims-essential modules.
async fn returned_claims(
    ctx: &Ctx,
    log: &mut ModuleLog,
    scopes: &[&str],
    extra: Params<'_>,
    reversed: bool,
) {
    let browser = ctx.browser();
    let Some((tokens, ..)) = (if reversed {
        ctx.code_flow_reordered(log, &browser, extra).await
    } else {
        ctx.code_flow(log, &browser, &ctx.t.client, Auth::Basic, extra)
            .await
    }) else {
        return;
    };
    let Some(info) = ctx
        .check_userinfo(log, &tokens, UserInfoCall::GetHeader)
        .await
    else {
        return;
    };
    let mut missing = Vec::new();
    for s in scopes {
        for claim in scope_claims(s) {
            if info.get(*claim).is_none() {
                missing.push(*claim);
            }
        }
    }
    log.warn(
        "VerifyScopesReturnedInUserInfoClaims",
        missing.is_empty(),
        format!("missing from UserInfo: {missing:?}"),
    );
    if scopes.contains(&"email") && scopes.len() == 1 {
        log.warn(
            "EnsureIdTokenDoesNotContainName",
            !tokens.id_token.claims.contains_key("name"),
            "name in the ID token",
        );
        log.warn(
            "EnsureIdTokenDoesNotContainEmailForScopeEmail",
            !tokens.id_token.claims.contains_key("email"),
            "email in the ID token (it belongs in UserInfo for the code flow)",
        );
        log.warn(
            "EnsureUserInfoDoesNotContainName",
            info.get("name").is_none(),
            "name in UserInfo for scope email",
        );
    }
}

/// The types OIDC Core §5.1 gives the standard claims (ValidateUserInfoStandardClaims and
/// ValidateIdTokenStandardClaims): strings, booleans, a number for updated_at, an object of
/// strings for address.
pub fn check_standard_claims(log: &mut ModuleLog, name: &str, info: &Value) {
    let strings = [
        "sub",
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "profile",
        "picture",
        "website",
        "email",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "phone_number",
    ];
    let mut bad = Vec::new();
    for k in strings {
        if info.get(k).is_some_and(|v| !v.is_string()) {
            bad.push(k);
        }
    }
    for k in ["email_verified", "phone_number_verified"] {
        if info.get(k).is_some_and(|v| !v.is_boolean()) {
            bad.push(k);
        }
    }
    if info.get("updated_at").is_some_and(|v| !v.is_number()) {
        bad.push("updated_at");
    }
    if info.get("address").is_some_and(|v| {
        !v.as_object()
            .is_some_and(|o| o.values().all(Value::is_string))
    }) {
        bad.push("address");
    }
    log.fail(
        name,
        bad.is_empty(),
        format!("claims of the wrong type: {bad:?}"),
    );
}

/// oidcc-alternate-happy-flow: the email-scope module with the scope reversed (`email openid`)
/// and the request's parameters in reverse alphabetical order: the order must not matter.
async fn alternate_happy_flow(ctx: &Ctx, log: &mut ModuleLog) {
    if !ctx.supports("scopes_supported", "email") {
        return log.skip("scope email is not in scopes_supported");
    }
    returned_claims(
        ctx,
        log,
        &["email"],
        &[("scope", Some("email openid"))],
        true,
    )
    .await;
}

/// oidcc-prompt-login: after a sign-in, `prompt=login` makes the user sign in again. The suite
/// wants a screenshot of that second login page (a human reviews it); here the harness checks a
/// sign-in form was shown. If both ID tokens carry `auth_time`, they must differ.
async fn prompt_login(ctx: &Ctx, log: &mut ModuleLog) {
    let browser = ctx.browser();
    let Some((first, ..)) = ctx
        .code_flow(log, &browser, &ctx.t.client, Auth::Basic, &[])
        .await
    else {
        return;
    };
    ctx.check_userinfo(log, &first, UserInfoCall::GetHeader)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let Some((second, answer, _)) = ctx
        .code_flow(
            log,
            &browser,
            &ctx.t.client,
            Auth::Basic,
            &[("prompt", Some("login"))],
        )
        .await
    else {
        return;
    };
    ctx.check_userinfo(log, &second, UserInfoCall::GetHeader)
        .await;
    log.fail(
        "ExpectSecondLoginPage (the screenshot's subject)",
        answer.sign_ins() >= 1,
        "no sign-in form was shown",
    );
    let (a1, a2) = (
        first.id_token.int("auth_time"),
        second.id_token.int("auth_time"),
    );
    log.fail(
        "CheckIdTokenAuthTimeClaimsDifferIfPresent",
        a1.is_none() || a2.is_none() || a1 != a2,
        format!("auth_time {a1:?} then {a2:?}"),
    );
}

/// oidcc-prompt-none-not-logged-in: `prompt=none` (with a 128-character state, which must come
/// back whole) in a browser with no session must come back with `login_required`,
/// `interaction_required`, `consent_required` or `account_selection_required`, and no code.
async fn prompt_none_not_logged_in(ctx: &Ctx, log: &mut ModuleLog) {
    let state: String = (0..8).map(|_| crate::ctx::random()).collect::<String>()[..128].to_string();
    let (params, sent) = ctx.auth_request(
        &ctx.t.client,
        &[("prompt", Some("none")), ("state", Some(&state))],
    );
    match ctx.browser().open(&ctx.auth_url(&params)).await {
        Ok(answer) => {
            ctx.check_error_response(
                log,
                &answer,
                &sent,
                &[
                    "login_required",
                    "interaction_required",
                    "consent_required",
                    "account_selection_required",
                ],
            );
        }
        Err(e) => log.interrupt(e),
    }
}

/// oidcc-prompt-none-logged-in: after a sign-in, `prompt=none` succeeds silently (the suite
/// would wait forever on a page) with the same `sub` and, if present, the same `auth_time`.
async fn prompt_none_logged_in(ctx: &Ctx, log: &mut ModuleLog) {
    same_auth_twice(ctx, log, &[], &[("prompt", Some("none"))], false).await;
}

/// Two authorizations in one browser, the second answered by the session: same `sub`, same
/// `auth_time` when present (`auth_time_required`: it must be present in both).
async fn same_auth_twice(
    ctx: &Ctx,
    log: &mut ModuleLog,
    first_extra: Params<'_>,
    second_extra: Params<'_>,
    auth_time_required: bool,
) -> Option<()> {
    let browser = ctx.browser();
    let (first, ..) = ctx
        .code_flow(log, &browser, &ctx.t.client, Auth::Basic, first_extra)
        .await?;
    ctx.check_userinfo(log, &first, UserInfoCall::GetHeader)
        .await?;
    let (second, answer, _) = ctx
        .code_flow(log, &browser, &ctx.t.client, Auth::Basic, second_extra)
        .await?;
    ctx.check_userinfo(log, &second, UserInfoCall::GetHeader)
        .await;
    log.fail(
        "no page is shown the second time",
        answer.pages() == 0,
        "a page asked the user for something",
    );
    let (a1, a2) = (
        first.id_token.int("auth_time"),
        second.id_token.int("auth_time"),
    );
    if auth_time_required {
        log.fail(
            "CheckIdTokenAuthTimeClaimPresentDueToMaxAge (both)",
            a1.is_some() && a2.is_some(),
            format!("auth_time {a1:?} then {a2:?}"),
        );
    }
    log.fail(
        "CheckIdTokenAuthTimeClaimsSameIfPresent",
        a1.is_none() || a2.is_none() || a1 == a2,
        format!("auth_time {a1:?} then {a2:?}"),
    );
    log.fail(
        "CheckIdTokenSubConsistentForSecondAuthorization",
        first.id_token.str("sub") == second.id_token.str("sub"),
        "another sub",
    );
    Some(())
}

/// oidcc-max-age-1: after a sign-in and a wait of 2 s, `max_age=1` makes the user sign in again
/// (the suite wants a screenshot; here a sign-in form must be shown): `auth_time` is present,
/// later than the first, and recent. oidcc-max-age-10000: `max_age=15000` then `max_age=10000`:
/// the session answers, `auth_time` present in both and the same, same `sub`.
async fn max_age(ctx: &Ctx, log: &mut ModuleLog, seconds: i64) {
    if seconds != 1 {
        same_auth_twice(
            ctx,
            log,
            &[("max_age", Some("15000"))],
            &[("max_age", Some("10000"))],
            true,
        )
        .await;
        return;
    }
    let browser = ctx.browser();
    let Some((first, ..)) = ctx
        .code_flow(log, &browser, &ctx.t.client, Auth::Basic, &[])
        .await
    else {
        return;
    };
    ctx.check_userinfo(log, &first, UserInfoCall::GetHeader)
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let Some((second, answer, _)) = ctx
        .code_flow(
            log,
            &browser,
            &ctx.t.client,
            Auth::Basic,
            &[("max_age", Some("1"))],
        )
        .await
    else {
        return;
    };
    ctx.check_userinfo(log, &second, UserInfoCall::GetHeader)
        .await;
    log.fail(
        "ExpectSecondLoginPage (the screenshot's subject)",
        answer.sign_ins() >= 1,
        "no sign-in form was shown",
    );
    let (a1, a2) = (
        first.id_token.int("auth_time"),
        second.id_token.int("auth_time"),
    );
    log.fail(
        "CheckSecondIdTokenAuthTimeIsLaterIfPresent",
        a1.is_none() || a2.is_none() || a2 > a1,
        format!("auth_time {a1:?} then {a2:?}"),
    );
    log.fail(
        "CheckIdTokenAuthTimeIsRecentIfPresent",
        a2.is_none_or(|a| a >= now() - 1 - 300),
        format!("auth_time {a2:?}"),
    );
}

/// oidcc-id-token-hint: after a sign-in, `prompt=none` with the first ID token as
/// `id_token_hint` succeeds silently: same `sub`, same `auth_time` when present.
async fn id_token_hint(ctx: &Ctx, log: &mut ModuleLog) {
    let browser = ctx.browser();
    let Some((first, ..)) = ctx
        .code_flow(log, &browser, &ctx.t.client, Auth::Basic, &[])
        .await
    else {
        return;
    };
    let hint = first.id_token.raw.clone();
    let Some((second, answer, _)) = ctx
        .code_flow(
            log,
            &browser,
            &ctx.t.client,
            Auth::Basic,
            &[("prompt", Some("none")), ("id_token_hint", Some(&hint))],
        )
        .await
    else {
        return;
    };
    ctx.check_userinfo(log, &second, UserInfoCall::GetHeader)
        .await;
    log.fail(
        "no page is shown the second time",
        answer.pages() == 0,
        "a page asked the user for something",
    );
    let (a1, a2) = (
        first.id_token.int("auth_time"),
        second.id_token.int("auth_time"),
    );
    log.fail(
        "CheckIdTokenAuthTimeClaimsSameIfPresent",
        a1.is_none() || a2.is_none() || a1 == a2,
        format!("auth_time {a1:?} then {a2:?}"),
    );
    log.fail(
        "CheckIdTokenSubConsistentForSecondAuthorization",
        first.id_token.str("sub") == second.id_token.str("sub"),
        "another sub",
    );
}

/// oidcc-codereuse: after the full flow, the same token request again: a 200 is only a warning
/// here (ServerAllowedReusingAuthorizationCode), otherwise it must be 400, JSON, `invalid_grant`.
/// oidcc-codereuse-30seconds: the same after 30 s, where a 200 fails, and then the first access
/// token should be refused (RFC 6749 §4.1.2 SHOULD revoke: a warning).
async fn code_reuse(ctx: &Ctx, log: &mut ModuleLog, wait: u64) {
    let c = &ctx.t.client;
    let (params, sent) = ctx.auth_request(c, &[]);
    let answer = match ctx.browser().open(&ctx.auth_url(&params)).await {
        Ok(a) => a,
        Err(e) => return log.interrupt(e),
    };
    let Some(code) = ctx.check_code_response(log, &answer, &sent) else {
        return;
    };
    let Some(tokens) = ctx.exchange(log, c, Auth::Basic, &code, &sent, &[]).await else {
        return;
    };
    if ctx
        .check_userinfo(log, &tokens, UserInfoCall::GetHeader)
        .await
        .is_none()
    {
        return;
    }
    if wait > 0 {
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    }
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", crate::target::CALLBACK),
    ];
    let (status, headers, body) = match ctx.token_request(c, Auth::Basic, &form).await {
        Ok(r) => r,
        Err(e) => return log.interrupt(e),
    };
    if status == 200 && wait == 0 {
        log.warn(
            "ServerAllowedReusingAuthorizationCode",
            false,
            "the code was accepted twice",
        );
        return;
    }
    log.fail(
        "CheckTokenEndpointHttpStatus400",
        status == 400,
        format!("HTTP {status}"),
    );
    log.fail(
        "CheckTokenEndpointReturnedJsonContentType",
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "not application/json",
    );
    log.fail(
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        body["error"] == "invalid_grant",
        format!("error {}", body["error"]),
    );
    crate::ctx::check_error_fields(
        log,
        body["error_description"]
            .as_str()
            .map(String::from)
            .as_ref(),
        body["error_uri"].as_str().map(String::from).as_ref(),
    );
    if wait > 0 {
        match ctx
            .userinfo(&tokens.access_token, UserInfoCall::GetHeader)
            .await
        {
            Ok((status, ..)) => {
                log.warn(
                    "EnsureHttpStatusCodeIs4xx (the first access token is revoked)",
                    (400..500).contains(&status),
                    format!("UserInfo still answers HTTP {status}"),
                );
            }
            Err(e) => log.interrupt(e),
        }
    }
}

/// oidcc-ensure-registered-redirect-uri: redirect_uri is the registered one plus `/` and ten
/// random characters: the provider must show an error page (the suite wants its screenshot) and
/// never send the browser anywhere, registered URI included.
async fn unregistered_redirect_uri(ctx: &Ctx, log: &mut ModuleLog) {
    let bad = format!(
        "{}/{}",
        crate::target::CALLBACK,
        &crate::ctx::random()[..10]
    );
    let (params, _) = ctx.auth_request(&ctx.t.client, &[("redirect_uri", Some(&bad))]);
    let answer = match ctx.browser().open(&ctx.auth_url(&params)).await {
        Ok(a) => a,
        Err(e) => return log.interrupt(e),
    };
    match answer {
        Answer::Elsewhere { url } => {
            log.fail(
                "the browser is never sent to an unregistered redirect URI",
                false,
                format!("redirected to {url}"),
            );
        }
        Answer::Page { status, .. } => {
            log.fail(
                "ExpectRedirectUriErrorPage (the screenshot's subject)",
                (400..500).contains(&status),
                format!("HTTP {status}"),
            );
        }
        Answer::Back { url, .. } => {
            log.fail(
                "the browser is never sent back for an unregistered redirect URI",
                false,
                format!("redirected to {url}"),
            );
        }
    }
}

/// oidcc-ensure-post-request-succeeds: the authorization request sent as a form POST works
/// like a GET.
async fn post_request(ctx: &Ctx, log: &mut ModuleLog) {
    let (params, sent) = ctx.auth_request(&ctx.t.client, &[]);
    let browser = ctx.browser();
    let answer = match browser
        .open_post(&ctx.endpoint("authorization_endpoint"), &params)
        .await
    {
        Ok(a) => a,
        Err(e) => return log.interrupt(e),
    };
    let Some(code) = ctx.check_code_response(log, &answer, &sent) else {
        return;
    };
    if let Some(tokens) = ctx
        .exchange(log, &ctx.t.client, Auth::Basic, &code, &sent, &[])
        .await
    {
        ctx.check_userinfo(log, &tokens, UserInfoCall::GetHeader)
            .await;
    }
}

/// An unsigned request object (`alg: none`) with the request's parameters.
fn unsigned_request_object(params: &[(String, String)]) -> String {
    use base64::Engine;
    let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    format!(
        "{}.{}.",
        enc(&serde_json::json!({"alg": "none"})),
        enc(&Value::Object(claims))
    )
}

/// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported: the whole request
/// as an unsigned request object in `request` (only response_type, client_id, scope and
/// redirect_uri repeated outside; state and nonce only inside). Skipped up front when
/// request_object_signing_alg_values_supported lacks `none`; an answer of
/// `request_not_supported` makes it SKIPPED; otherwise the flow must succeed and honour the
/// object's state and nonce (a warning if request_parameter_supported is not true).
///
/// oidcc-ensure-request-object-with-redirect-uri: the same object (holding the registered
/// redirect_uri) with an unregistered redirect_uri outside: the provider either honours the
/// object and answers at the registered URI, or shows an error page (the suite's screenshot);
/// an error sent to the registered URI is a failure.
async fn request_object(ctx: &Ctx, log: &mut ModuleLog, bad_outer_redirect: bool) {
    if ctx
        .discovery
        .get("request_object_signing_alg_values_supported")
        .is_some()
        && !ctx.supports("request_object_signing_alg_values_supported", "none")
    {
        return log.skip("request_object_signing_alg_values_supported lacks none");
    }
    let (params, sent) = ctx.auth_request(&ctx.t.client, &[]);
    let mut outer: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "client_id" | "response_type" | "scope" | "redirect_uri"
            )
        })
        .cloned()
        .collect();
    if bad_outer_redirect {
        for p in &mut outer {
            if p.0 == "redirect_uri" {
                p.1 = format!("{}_invalid", crate::target::CALLBACK);
            }
        }
    }
    outer.push(("request".into(), unsigned_request_object(&params)));
    let answer = match ctx.browser().open(&ctx.auth_url(&outer)).await {
        Ok(a) => a,
        Err(e) => return log.interrupt(e),
    };
    match (&answer, bad_outer_redirect) {
        (Answer::Elsewhere { url }, _) => {
            log.fail(
                "the browser is never sent to an unregistered redirect URI",
                false,
                format!("redirected to {url}"),
            );
        }
        (Answer::Page { status, .. }, true) => {
            log.fail(
                "ExpectRedirectUriErrorPage (the screenshot's subject)",
                (400..500).contains(status),
                format!("HTTP {status}"),
            );
        }
        (Answer::Page { status, body }, false) => {
            log.fail(
                "CheckIfAuthorizationEndpointError",
                false,
                format!(
                    "an error page (HTTP {status}) instead of an answer at the client: {}",
                    crate::ctx::snippet(body)
                ),
            );
        }
        (Answer::Back { params, .. }, true) if params.contains_key("error") => {
            log.fail(
                "EnsureOPDoesNotUseDefaultRedirectUriInCaseOfInvalidRedirectUri",
                false,
                format!("error {:?} sent to the registered URI", params.get("error")),
            );
        }
        (Answer::Back { params, .. }, false)
            if params.get("error").map(String::as_str) == Some("request_not_supported") =>
        {
            log.skip("the provider answered request_not_supported");
        }
        (Answer::Back { .. }, _) => {
            log.warn(
                "CheckDiscEndpointRequestParameterSupported",
                ctx.discovery["request_parameter_supported"] == true,
                "request objects were honoured but request_parameter_supported is not true",
            );
            if let Some(code) = ctx.check_code_response(log, &answer, &sent)
                && let Some(t) = ctx
                    .exchange(log, &ctx.t.client, Auth::Basic, &code, &sent, &[])
                    .await
            {
                ctx.check_userinfo(log, &t, UserInfoCall::GetHeader).await;
            }
        }
    }
}

/// oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported: a request object
/// passed by reference. The suite runs it only with dynamic registration (the client registers
/// its request_uris), where it also requires request_uri_parameter_supported. Here it is skipped
/// when the provider says `request_uri_parameter_supported: false` (as the issue asks), and
/// otherwise because a static client cannot register request_uris.
async fn request_uri(ctx: &Ctx, log: &mut ModuleLog) {
    // Absent means true (OIDC Discovery §3).
    if ctx.discovery["request_uri_parameter_supported"] == false {
        return log.skip("request_uri_parameter_supported is false");
    }
    log.skip("needs request_uris registered by the client: the suite runs it only with dynamic registration");
}

/// oidcc-claims-essential: the claims parameter asks for `name` as essential in UserInfo: it
/// should come back (a warning: the user may have none), and should not be in the ID token
/// (warning). The returned-claims checks need only `sub`.
async fn claims_essential(ctx: &Ctx, log: &mut ModuleLog) {
    let claims = r#"{"userinfo":{"name":{"essential":true}}}"#;
    let browser = ctx.browser();
    let Some((tokens, ..)) = ctx
        .code_flow(
            log,
            &browser,
            &ctx.t.client,
            Auth::Basic,
            &[("claims", Some(claims))],
        )
        .await
    else {
        return;
    };
    if let Some(info) = ctx
        .check_userinfo(log, &tokens, UserInfoCall::GetHeader)
        .await
    {
        log.warn(
            "EnsureUserInfoContainsName",
            info["name"].is_string(),
            "name is missing from UserInfo",
        );
    }
    log.warn(
        "EnsureIdTokenDoesNotContainName",
        !tokens.id_token.claims.contains_key("name"),
        "name in the ID token",
    );
}

/// oidcc-refresh-token: `openid` (+ `offline_access` with `prompt=consent` when advertised); no
/// refresh token means SKIPPED (a warning if grant_types_supported lists refresh_token). With
/// one: grant_types_supported should list refresh_token (warning); after a second, the refresh
/// (with `scope`) passes the token-response checks; a new ID token keeps iss, sub, aud, azp and
/// auth_time and has a new iat (CompareIdTokenClaims); the new access token works at UserInfo.
/// Then the whole flow again with client2, whose refresh token presented with client1's
/// credentials must get 400 `invalid_grant`.
async fn refresh_token(ctx: &Ctx, log: &mut ModuleLog) {
    if ctx.discovery.get("scopes_supported").is_none() {
        log.fail(
            "SetScopeInClientConfigurationToOpenIdOfflineAccessIfServerSupportsOfflineAccess",
            false,
            "no scopes_supported",
        );
        return;
    }
    let offline = ctx.supports("scopes_supported", "offline_access");
    let scope = if offline {
        "openid offline_access"
    } else {
        "openid"
    };
    let mut extra: Vec<(&str, Option<&str>)> = vec![("scope", Some(scope))];
    if offline {
        extra.push(("prompt", Some("consent")));
    }
    let Some(first) = refresh_flow(ctx, log, &ctx.t.client, &extra, Some(scope)).await else {
        return;
    };
    let _ = first;
    let Some(second_refresh) = refresh_flow(ctx, log, &ctx.t.client2, &extra, None).await else {
        return;
    };
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", second_refresh.as_str()),
    ];
    match ctx.token_request(&ctx.t.client, Auth::Basic, &form).await {
        Ok((status, headers, body)) => {
            log.fail(
                "CheckTokenEndpointHttpStatus400 (client2's refresh token, client1)",
                status == 400,
                format!("HTTP {status}"),
            );
            log.fail(
                "CheckTokenEndpointReturnedJsonContentType",
                headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json")),
                "not application/json",
            );
            log.fail(
                "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
                body["error"] == "invalid_grant",
                format!("error {}", body["error"]),
            );
        }
        Err(e) => log.interrupt(e),
    }
}

/// One client's part of oidcc-refresh-token; returns the refresh token it holds at the end.
async fn refresh_flow(
    ctx: &Ctx,
    log: &mut ModuleLog,
    client: &crate::target::Client,
    extra: Params<'_>,
    scope: Option<&str>,
) -> Option<String> {
    let browser = ctx.browser();
    let (tokens, _, sent) = ctx
        .code_flow(log, &browser, client, Auth::Basic, extra)
        .await?;
    ctx.check_userinfo(log, &tokens, UserInfoCall::GetHeader)
        .await?;
    let Some(refresh) = tokens.refresh_token.clone() else {
        log.warn(
            "EnsureServerConfigurationDoesNotSupportRefreshToken",
            !ctx.supports("grant_types_supported", "refresh_token"),
            "grant_types_supported lists refresh_token, yet none was issued",
        );
        log.skip("no refresh token was issued");
        return None;
    };
    log.warn(
        "EnsureServerConfigurationSupportsRefreshToken",
        ctx.supports("grant_types_supported", "refresh_token"),
        "grant_types_supported does not list refresh_token",
    );
    log.fail(
        "EnsureRefreshTokenContainsAllowedCharactersOnly",
        refresh.bytes().all(|b| (0x20..=0x7E).contains(&b)),
        "characters outside VSCHAR",
    );
    // So the new ID token's iat differs.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let (status, headers, body) = match ctx.token_request(client, Auth::Basic, &form).await {
        Ok(r) => r,
        Err(e) => {
            log.interrupt(e);
            return None;
        }
    };
    let no_nonce = crate::ctx::Sent {
        refreshed: true,
        ..sent.clone()
    };
    let after = ctx
        .check_token_response(log, status, &headers, &body, client, &no_nonce, false)
        .await;
    if status != 200 {
        return None;
    }
    if let Some(t) = &after {
        let (a, b) = (&tokens.id_token.claims, &t.id_token.claims);
        let mut differ = Vec::new();
        for claim in ["iss", "sub", "aud", "azp"] {
            if a.get(claim) != b.get(claim) {
                differ.push(claim);
            }
        }
        if b.get("auth_time").is_some() && a.get("auth_time") != b.get("auth_time") {
            differ.push("auth_time");
        }
        log.fail(
            "CompareIdTokenClaims",
            differ.is_empty(),
            format!("changed: {differ:?}"),
        );
        log.fail(
            "CompareIdTokenClaims: a new iat",
            a.get("iat").is_some() && b.get("iat").is_some() && a.get("iat") != b.get("iat"),
            "the same iat",
        );
    }
    let access = body["access_token"].as_str()?.to_string();
    log.fail(
        "EnsureMinimumAccessTokenEntropy (96 bits)",
        entropy_bits(&access) >= 96.0,
        format!("about {:.0} bits", entropy_bits(&access)),
    );
    log.fail(
        "EnsureAccessTokenContainsAllowedCharactersOnly",
        access.bytes().all(|b| (0x20..=0x7E).contains(&b)),
        "characters outside VSCHAR",
    );
    log.warn(
        "ExtractExpiresInFromTokenEndpointResponse",
        body.get("expires_in").is_some(),
        "no expires_in in the refresh response",
    );
    if let Some(rotated) = body["refresh_token"].as_str() {
        log.fail(
            "EnsureMinimumRefreshTokenLength (128 bits)",
            rotated.len() * 8 >= 128,
            format!("{} characters", rotated.len()),
        );
        log.fail(
            "EnsureMinimumRefreshTokenEntropy (96 bits)",
            entropy_bits(rotated) >= 96.0,
            format!("about {:.0} bits", entropy_bits(rotated)),
        );
    }
    match ctx.userinfo(&access, UserInfoCall::GetHeader).await {
        Ok((status, ..)) => {
            log.fail(
                "EnsureHttpStatusCodeIs200 (UserInfo with the refreshed token)",
                status == 200,
                format!("HTTP {status}"),
            );
        }
        Err(e) => log.interrupt(e),
    }
    Some(
        body["refresh_token"]
            .as_str()
            .map(String::from)
            .unwrap_or(refresh),
    )
}

/// oidcc-ensure-request-with-valid-pkce-succeeds: PKCE S256 (RFC 7636) with the right verifier
/// works.
async fn pkce(ctx: &Ctx, log: &mut ModuleLog) {
    use base64::Engine;
    use sha2::Digest;
    let verifier = format!("{}{}", crate::ctx::random(), crate::ctx::random());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let (params, sent) = ctx.auth_request(
        &ctx.t.client,
        &[
            ("code_challenge", Some(&challenge)),
            ("code_challenge_method", Some("S256")),
        ],
    );
    let answer = match ctx.browser().open(&ctx.auth_url(&params)).await {
        Ok(a) => a,
        Err(e) => return log.interrupt(e),
    };
    let Some(code) = ctx.check_code_response(log, &answer, &sent) else {
        return;
    };
    if let Some(t) = ctx
        .exchange(
            log,
            &ctx.t.client,
            Auth::Basic,
            &code,
            &sent,
            &[("code_verifier", &verifier)],
        )
        .await
    {
        ctx.check_userinfo(log, &t, UserInfoCall::GetHeader).await;
    }
    let _ = Mode::Query;
}
