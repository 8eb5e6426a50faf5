//! The application core: what every surface (the HTTP routes, the JSON sign-in API, the
//! delivery worker, the CLI) shares — settings, the database pool, signing keys, the password
//! hasher, the metrics registry, the outbound client, the SMS fallback gateway, the
//! organization cache and the upstream providers' documents. Nothing here names a web type, so the worker and the CLI depend on this
//! module, not on `http`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::config::Settings;
use crate::domain::OrgSlug;
use crate::keys::KeyStore;
use crate::oidc;
use crate::password::Hasher;
use crate::store::organizations::Organization;
use crate::store::{Db, StoreError};

/// Why the core could not answer.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("unknown organization '{0}'")]
    UnknownOrganization(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeysError),
    /// An unexpected failure (a key that cannot seal, a template that cannot render): logged
    /// where it happens, answered as a generic error.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The shared state of a running node.
#[derive(Debug)]
pub struct Core {
    pub settings: Settings,
    pub db: Db,
    pub keys: KeyStore,
    pub hasher: Hasher,
    /// This node's Prometheus registry (served at `/metrics`).
    pub metrics: crate::metrics::Metrics,
    /// The mails Sesame writes (sign-in links).
    pub mail_templates: crate::mail::Templates,
    pub outbound: crate::outbound::Outbound,
    /// Wakes the delivery worker when deliveries are due (shared with the pool, which rings it
    /// after every closure that queued some).
    pub deliveries_due: Arc<crate::store::deliveries::Wakeups>,
    /// Wakes the worker's intent verifications (a subscribe or unsubscribe request).
    pub verifications_due: tokio::sync::Notify,
    /// The gateway behind organizations' console channel (tests put a capture there).
    pub console_sms: Arc<dyn crate::plugin::SmsGateway>,
    /// Upstream providers' discovery documents (federated sign-ins).
    pub upstream: crate::authn::upstream::UpstreamCache,
    /// Client key sets fetched from `jwks_uri`, by application id, with when they were fetched.
    client_keys: RwLock<HashMap<String, FetchedKeys>>,
    /// A real argon2id hash of nothing, verified against when a username is unknown so that the
    /// answer takes as long as for a wrong password.
    pub dummy_hash: String,
    orgs: RwLock<HashMap<String, Arc<OrgEntry>>>,
    /// Organizations changed elsewhere, told by PostgreSQL (see [`OrgChanges`]).
    pub org_changes: Arc<OrgChanges>,
    /// The event sinks built (and connected) on this node.
    pub sinks: crate::events::sinks::SinkCache,
}

/// A known organization and its discovery document, serialized once. Re-read after
/// [`ORG_CACHE_TTL`] so that an import on another node (a new display name or lock policy)
/// reaches this one.
#[derive(Debug)]
pub struct OrgEntry {
    pub org: Organization,
    pub issuer: String,
    pub discovery: crate::document::PublicDocument,
    /// Origins of the organization's registered redirect URIs: the browsers allowed to call the
    /// token, UserInfo and revocation endpoints cross-origin.
    pub origins: std::collections::HashSet<String>,
    /// The first steps the organization's applications offer: what the account area accepts
    /// when a user confirms it is them.
    pub first_steps: Vec<crate::authn::flow::Authenticator>,
    /// Whether an application's flow takes a code sent by email (a password reset then asks
    /// for the second factor: see `authn::reset`).
    pub mails_codes: bool,
    /// The logo, colour and support link its pages show, read once.
    pub brand: crate::branding::Brand,
    /// The organization's SMS channel, or why it could not be built (a missing secret file).
    pub sms: Result<crate::plugin::SmsChannel, String>,
    /// `SESAME_DELIVERY_MAX_AGE_SECONDS`, for the events' origin.
    pub(crate) delivery_max_age: i64,
    /// The base URL, for the events' origin.
    pub(crate) base_url: String,
    loaded: std::time::Instant,
}

pub const ORG_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Organizations (and their applications) changed on another node, by the CLI or by an import,
/// as PostgreSQL's `sesame_organizations` notifications name them (`events::listen`): the
/// cache drops them at its next look, so a change takes effect on every listening node at
/// once. Without notifications (SQLite, or a node reconnecting) the cache's
/// [`ORG_CACHE_TTL`] is the bound.
#[derive(Debug, Default)]
pub struct OrgChanges {
    any: std::sync::atomic::AtomicBool,
    changed: std::sync::Mutex<Option<Changed>>,
    /// Counts the changes told, so a load that began before one does not cache what it read.
    generation: std::sync::atomic::AtomicU64,
}

/// What changed since the cache last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// These organizations (by id).
    Some(std::collections::HashSet<i64>),
    /// Anything may have: notifications were missed (a reconnection).
    Everything,
}

impl OrgChanges {
    /// The organization `id` changed.
    pub fn changed(&self, id: i64) {
        let mut changed = self.changed.lock().expect("org changes lock");
        match changed.get_or_insert_with(|| Changed::Some(Default::default())) {
            Changed::Some(ids) => {
                ids.insert(id);
            }
            Changed::Everything => {}
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.any.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Any organization may have changed.
    pub fn everything(&self) {
        *self.changed.lock().expect("org changes lock") = Some(Changed::Everything);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.any.store(true, std::sync::atomic::Ordering::Release);
    }

    /// How many changes were told so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// What changed since the last call, if anything.
    pub fn take(&self) -> Option<Changed> {
        if !self.any.swap(false, std::sync::atomic::Ordering::AcqRel) {
            return None;
        }
        self.changed.lock().expect("org changes lock").take()
    }
}

impl Core {
    pub fn new(
        settings: Settings,
        db: Db,
        keys: KeyStore,
        console_sms: Arc<dyn crate::plugin::SmsGateway>,
    ) -> Self {
        let outbound_allow_private = settings.outbound_allow_private;
        let hasher = Hasher::per_core();
        let metrics = crate::metrics::Metrics::new(db.pool_metrics(), hasher.metrics());
        let deliveries_due = db.deliveries_due();
        Self {
            settings,
            db,
            keys,
            deliveries_due,
            verifications_due: tokio::sync::Notify::new(),
            console_sms,
            hasher,
            metrics,
            mail_templates: crate::mail::Templates::default(),
            outbound: crate::outbound::Outbound::new(outbound_allow_private),
            upstream: crate::authn::upstream::UpstreamCache::default(),
            client_keys: RwLock::new(HashMap::new()),
            dummy_hash: crate::password::hash(&crate::secret::random_token(16)),
            orgs: RwLock::new(HashMap::new()),
            org_changes: Arc::default(),
            sinks: crate::events::sinks::SinkCache::default(),
        }
    }

    /// Drops the cached organizations that changed elsewhere (told by PostgreSQL), before a
    /// look at the cache. One atomic read when nothing changed.
    fn forget_changed_organizations(&self) {
        let Some(changed) = self.org_changes.take() else {
            return;
        };
        let mut orgs = self.orgs.write().expect("org cache lock");
        match changed {
            Changed::Everything => orgs.clear(),
            Changed::Some(ids) => orgs.retain(|_, entry| !ids.contains(&entry.org.id)),
        }
    }

    /// Drops the cached entry of an organization, so the next request reads it afresh (an
    /// import in another process otherwise shows after [`ORG_CACHE_TTL`]).
    pub fn forget_organization(&self, slug: &str) {
        self.orgs.write().expect("org cache lock").remove(slug);
    }

    /// The organization named `slug`. Malformed slugs never reach the database.
    pub async fn organization(&self, slug: &str) -> Result<Arc<OrgEntry>, CoreError> {
        self.forget_changed_organizations();
        if let Some(entry) = self.orgs.read().expect("org cache lock").get(slug)
            && entry.loaded.elapsed() < ORG_CACHE_TTL
        {
            return Ok(entry.clone());
        }
        // A change told while this load reads may not be in what it reads: then the entry
        // serves this request but is not cached.
        let generation = self.org_changes.generation();
        let unknown = || CoreError::UnknownOrganization(slug.chars().take(64).collect());
        let slug = OrgSlug::parse(slug).map_err(|_| unknown())?;
        let key = slug.as_str().to_string();
        let org = self
            .db
            .run(move |conn| {
                let Some(org) = Organization::find_by_slug(conn, slug.as_str())? else {
                    return Ok(None);
                };
                let apps = crate::store::applications::Application::list(conn, org.id)?;
                Ok(Some((org, apps)))
            })
            .await?;
        let (org, apps) = org.ok_or_else(unknown)?;
        let origins = apps
            .iter()
            .flat_map(|a| a.redirect_uris.iter())
            .filter_map(|u| url::Url::parse(u.as_str()).ok())
            .filter(|u| u.scheme() == "https" || u.scheme() == "http")
            .map(|u| u.origin().ascii_serialization())
            .collect();
        let flows: Vec<_> = apps.iter().map(|a| a.flow()).collect();
        let first_steps = crate::authn::flow::SignInFlow::first_steps(flows.iter());
        let mails_codes = flows
            .iter()
            .any(crate::authn::flow::SignInFlow::mails_codes);
        let issuer = self.settings.base_url.issuer(&org.slug);
        let discovery = crate::document::PublicDocument::new(
            serde_json::to_vec(&oidc::discovery::document(&issuer)).expect("discovery serializes"),
        );
        self.sinks.keep_only(org.id, &org.settings.event_sinks);
        let sms =
            crate::plugin::SmsChannel::build(&org.settings.sms, &self.outbound, &self.console_sms);
        if let Err(error) = &sms {
            tracing::error!(org = %org.slug, %error, "the organization's SMS channel cannot be built");
        }
        let brand = crate::branding::Brand::of(&org.settings.branding);
        let entry = Arc::new(OrgEntry {
            brand,
            org,
            issuer,
            discovery,
            origins,
            first_steps,
            mails_codes,
            sms,
            delivery_max_age: self.settings.delivery_max_age_seconds,
            base_url: self.settings.base_url.as_str().to_string(),
            loaded: std::time::Instant::now(),
        });
        // Compared under the cache's lock, which dropping changed entries takes too: a change
        // told after this comparison finds the entry in the cache and drops it.
        let mut orgs = self.orgs.write().expect("org cache lock");
        if self.org_changes.generation() == generation {
            orgs.insert(key, entry.clone());
        }
        Ok(entry)
    }

    /// The claims of an ID token this issuer signed, used as a hint (authorization, logout).
    /// Expiry is not checked: an expired ID token still says who the user was.
    pub async fn id_token_hint(
        &self,
        org: &OrgEntry,
        hint: &str,
    ) -> Result<Option<serde_json::Value>, CoreError> {
        let keys = self.keys.get(&self.db, org.org.id).await?;
        Ok(
            crate::keys::jwk::decode_verified(hint, |kid| kid.and_then(|k| keys.verifier(k)))
                .filter(|(header, _)| header["typ"] != "at+jwt")
                .map(|(_, claims)| claims)
                .filter(|c| c["iss"] == org.issuer.as_str()),
        )
    }

    /// The subject of an `id_token_hint` for `client_id`: `None` when the hint is not an ID
    /// token of this issuer for that client (the user a client expects is checked the same way
    /// by the pages and the JSON sign-in API).
    pub async fn hinted_subject(
        &self,
        org: &OrgEntry,
        hint: &str,
        client_id: &str,
    ) -> Result<Option<String>, CoreError> {
        let for_client = |c: &serde_json::Value| match &c["aud"] {
            serde_json::Value::String(a) => a == client_id,
            serde_json::Value::Array(items) => items.iter().any(|a| a == client_id),
            _ => false,
        };
        Ok(self
            .id_token_hint(org, hint)
            .await?
            .filter(for_client)
            .and_then(|c| c["sub"].as_str().map(str::to_string)))
    }

    /// The keys a client published at `uri`: cached, and fetched again after the TTL or, when
    /// `stale` (a signature did not verify), if the cached copy is old enough.
    pub async fn client_keys(
        &self,
        app_id: &str,
        uri: &str,
        stale: bool,
    ) -> Result<Arc<Vec<crate::keys::jwk::KeyedVerifier>>, String> {
        if let Some((fetched, keys)) = self
            .client_keys
            .read()
            .expect("client key cache")
            .get(app_id)
        {
            let age = fetched.elapsed();
            if age < CLIENT_KEYS_TTL && !(stale && age >= CLIENT_KEYS_MIN_REFRESH) {
                return Ok(keys.clone());
            }
        }
        let doc = self
            .outbound
            .get_json(uri)
            .await
            .map_err(|e| e.to_string())?;
        let keys = Arc::new(crate::keys::jwk::parse_jwks(&doc)?);
        self.client_keys.write().expect("client key cache").insert(
            app_id.to_string(),
            (std::time::Instant::now(), keys.clone()),
        );
        Ok(keys)
    }
}

/// How long a client's fetched key set is used before it is fetched again.
const CLIENT_KEYS_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// A key set is re-fetched early (an unknown kid: the client rotated) at most this often.
const CLIENT_KEYS_MIN_REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

/// A client's key set fetched from its `jwks_uri`, with when it was fetched.
type FetchedKeys = (
    std::time::Instant,
    Arc<Vec<crate::keys::jwk::KeyedVerifier>>,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_taken_once_and_counted() {
        let changes = OrgChanges::default();
        assert_eq!(changes.take(), None);
        let before = changes.generation();
        changes.changed(3);
        changes.changed(5);
        assert_eq!(changes.generation(), before + 2);
        assert_eq!(changes.take(), Some(Changed::Some([3, 5].into())));
        assert_eq!(changes.take(), None, "taken once");
        changes.changed(7);
        changes.everything();
        changes.changed(9);
        assert_eq!(changes.take(), Some(Changed::Everything));
    }
}
