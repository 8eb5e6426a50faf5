//! The account area's sessions and connected applications: the user's browsers signed in
//! (browser, address, started, last used; this one marked), signed out one at a time or all but
//! this one, and the applications that can act for them, whose access they can take away.
//!
//! Signing a session out ends it as a sign-out does (its grants revoked, offline access kept);
//! taking an application's access away forgets the consent (the next authorization asks again)
//! and revokes every grant of the user to it, offline ones too. Both need the fresh pass
//! through the chain every change in the account area needs, are recorded and publish an event.

use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::{Account, account_url, for_change, render};
use crate::events::{AccountChangeKind, account_changed};
use crate::http::browser::see_other;
use crate::http::error::ApiError;
use crate::http::{AppState, OrgEntry};
use crate::store::applications::Application;
use crate::store::sessions::{ConnectedApp, Session, connected_apps, disconnect_app};
use crate::store::{DbConn, StoreError, now, write_transaction};

/// A connected application and what it is.
pub(super) type AppWithAccess = (ConnectedApp, Application);

/// A user's live sessions and connected applications, for the account page.
pub(super) fn load(
    conn: &mut DbConn,
    organization_id: i64,
    user_id: &str,
) -> Result<(Vec<Session>, Vec<AppWithAccess>), StoreError> {
    let sessions = Session::live_of_user(conn, organization_id, user_id)?;
    let live: Vec<String> = sessions.iter().map(|s| s.sid.clone()).collect();
    let mut apps = Vec::new();
    for connected in connected_apps(conn, user_id, &live)? {
        // Applications of other organizations never hold this user's grants; deleted ones
        // hold nothing any more.
        if let Some(app) = Application::find_by_id(conn, &connected.application_id)?
            .filter(|a| a.organization_id == organization_id)
        {
            apps.push((connected, app));
        }
    }
    Ok((sessions, apps))
}

/// The sessions as the page lists them, this one first; the addresses only once the user has
/// confirmed it is them (a session of the first step alone does not learn where the others are).
pub(super) fn listed_sessions(account: &Account, fresh: bool) -> Vec<minijinja::Value> {
    let mut sessions: Vec<&Session> = account.sessions.iter().collect();
    sessions.sort_by_key(|s| s.sid != account.session.sid);
    sessions
        .into_iter()
        .map(|s| {
            context! {
                sid => s.sid,
                browser => browser_label(s.user_agent.as_deref()),
                ip => s.ip.as_ref().filter(|_| fresh),
                started => crate::i18n::ago(s.created_at, now()),
                last_used => crate::i18n::ago(s.last_seen_at.unwrap_or(s.created_at), now()),
                this_one => s.sid == account.session.sid,
            }
        })
        .collect()
}

/// The connected applications as the page lists them.
pub(super) fn listed_apps(account: &Account) -> Vec<minijinja::Value> {
    account
        .apps
        .iter()
        .map(|(connected, app)| {
            context! {
                id => app.id,
                name => app.name,
                scopes => connected.consented,
                since => crate::i18n::ago(connected.since, now()),
            }
        })
        .collect()
}

/// A short name of the browser a `User-Agent` names ("Firefox on Linux"), or the start of it;
/// the words in the current language.
fn browser_label(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return crate::i18n::text("forms-sessions-browser-unknown", &[]);
    };
    let has = |any: &[&str]| any.iter().any(|s| ua.contains(s));
    // Browsers on iOS all say Safari and name themselves apart (CriOS, FxiOS, EdgiOS).
    let browser = if has(&["Edg/", "EdgA/", "EdgiOS/"]) {
        "Edge"
    } else if has(&["SamsungBrowser/"]) {
        "Samsung Internet"
    } else if has(&["OPR/", "Opera"]) {
        "Opera"
    } else if has(&["Firefox/", "FxiOS/"]) {
        "Firefox"
    } else if has(&["Chrome/", "Chromium/", "CriOS/"]) {
        "Chrome"
    } else if has(&["Safari/"]) {
        "Safari"
    } else {
        ""
    };
    let os = if has(&["Android"]) {
        "Android"
    } else if has(&["iPhone", "iPad"]) {
        "iOS"
    } else if has(&["Windows"]) {
        "Windows"
    } else if has(&["CrOS"]) {
        "ChromeOS"
    } else if has(&["Macintosh", "Mac OS X"]) {
        "macOS"
    } else if has(&["Linux"]) {
        "Linux"
    } else {
        ""
    };
    match (browser, os) {
        ("", "") => ua.chars().take(60).collect(),
        (browser, "") => browser.into(),
        ("", os) => crate::i18n::text("forms-sessions-browser-any-on", &[("os", os.into())]),
        (browser, os) => crate::i18n::text(
            "forms-sessions-browser-on",
            &[("browser", browser.into()), ("os", os.into())],
        ),
    }
}

#[derive(Debug, Deserialize)]
pub struct SessionsForm {
    csrf: Option<String>,
    /// `end` (the session `sid` names) or `end_others`.
    action: Option<String>,
    sid: Option<String>,
}

/// `POST {issuer}/account/sessions`: signs out one other session, or all but this one.
pub async fn sessions_change(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<SessionsForm>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let form = form.into_inner();
    let account = match for_change(&state, &org, &req, form.csrf.as_deref()).await? {
        Ok(a) => a,
        Err(res) => return Ok(res),
    };
    let others = account
        .sessions
        .iter()
        .filter(|s| s.sid != account.session.sid);
    let sids: Vec<String> = match (form.action.as_deref(), form.sid.as_deref()) {
        (Some("end_others"), _) => others.map(|s| s.sid.clone()).collect(),
        (Some("end"), Some(sid)) if sid == account.session.sid => {
            let msg = crate::i18n::text("forms-sessions-this-browser", &[]);
            return render(&state, &org, &account, None, Some(&msg)).await;
        }
        (Some("end"), Some(sid)) => others
            .filter(|s| s.sid == sid)
            .map(|s| s.sid.clone())
            .collect(),
        _ => Vec::new(),
    };
    if sids.is_empty() {
        let msg = crate::i18n::text("forms-sessions-not-yours", &[]);
        return render(&state, &org, &account, None, Some(&msg)).await;
    }
    let (user_id, entry) = (account.user.id.clone(), org.clone());
    let ended = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let ended = Session::end_of_user(conn, &user_id, &sids)?;
                if ended > 0 {
                    let detail = if ended == 1 {
                        "1 session".to_string()
                    } else {
                        format!("{ended} sessions")
                    };
                    account_changed(
                        conn,
                        entry.event_origin(),
                        &user_id,
                        AccountChangeKind::SessionsEnded,
                        &detail,
                    )?;
                }
                Ok(ended)
            })
        })
        .await?;
    tracing::info!(user = %account.user.id, ended, "sessions signed out from the account area");
    Ok(see_other(&format!(
        "{}?changed=sessions_ended",
        account_url(&org)
    )))
}

#[derive(Debug, Deserialize)]
pub struct ApplicationsForm {
    csrf: Option<String>,
    /// The application's id, as the page lists it.
    id: Option<String>,
}

/// `POST {issuer}/account/applications`: takes an application's access away.
pub async fn applications_change(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<ApplicationsForm>,
) -> Result<HttpResponse, ApiError> {
    let org = state.organization(&path).await?;
    let form = form.into_inner();
    let account = match for_change(&state, &org, &req, form.csrf.as_deref()).await? {
        Ok(a) => a,
        Err(res) => return Ok(res),
    };
    let Some((_, app)) = account
        .apps
        .iter()
        .find(|(_, app)| Some(app.id.as_str()) == form.id.as_deref())
    else {
        let msg = crate::i18n::text("forms-sessions-app-no-access", &[]);
        return render(&state, &org, &account, None, Some(&msg)).await;
    };
    let (user_id, app_id, name, entry) = (
        account.user.id.clone(),
        app.id.clone(),
        app.name.clone(),
        org.clone(),
    );
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if disconnect_app(conn, &user_id, &app_id)? {
                    account_changed(
                        conn,
                        entry.event_origin(),
                        &user_id,
                        AccountChangeKind::ApplicationAccessRemoved,
                        &name,
                    )?;
                }
                Ok(())
            })
        })
        .await?;
    tracing::info!(user = %account.user.id, application = %app.id, "application access removed from the account area");
    Ok(see_other(&format!(
        "{}?changed=application_access_removed",
        account_url(&org)
    )))
}

/// Where the page's forms post.
pub(super) fn actions(org: &OrgEntry) -> (String, String) {
    (
        format!("{}/account/sessions", org.issuer),
        format!("{}/account/applications", org.issuer),
    )
}

#[cfg(test)]
mod tests {
    use super::browser_label;

    #[test]
    fn browsers_are_named_shortly() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(browser_label(Some(firefox)), "Firefox on Linux");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
        assert_eq!(browser_label(Some(edge)), "Edge on Windows");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_label(Some(iphone)), "Safari on iOS");
        let chrome_ios = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_label(Some(chrome_ios)), "Chrome on iOS");
        let samsung = "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36";
        assert_eq!(browser_label(Some(samsung)), "Samsung Internet on Android");
        assert_eq!(browser_label(Some("curl/8.5.0")), "curl/8.5.0");
        assert_eq!(browser_label(None), "Unknown browser");
    }
}
