//! The one schema both backends share. Only portable column types appear here (see the migrations):
//! a query written against it compiles for SQLite and PostgreSQL alike.

diesel::table! {
    organizations (id) {
        id -> BigInt,
        slug -> Text,
        display_name -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        settings -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    applications (id) {
        id -> Text,
        organization_id -> BigInt,
        client_id -> Text,
        name -> Text,
        client_type -> Text,
        secret_hash -> Nullable<Text>,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        access_token_lifetime -> BigInt,
        id_token_lifetime -> BigInt,
        refresh_token_lifetime -> BigInt,
        sign_in_flow -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        jwks -> Nullable<Text>,
        id_token_alg -> Text,
        third_party -> Bool,
        jwks_uri -> Nullable<Text>,
        resources -> Text,
        backup_codes -> Bool,
        websub_subscribe -> Bool,
        app_native -> Bool,
        access_token_alg -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Text,
        organization_id -> BigInt,
        topic -> Text,
        callback -> Text,
        secret -> Binary,
        pending_secret -> Nullable<Binary>,
        previous_secret -> Nullable<Binary>,
        previous_secret_until -> Nullable<BigInt>,
        state -> Text,
        pending_mode -> Nullable<Text>,
        lease_seconds -> BigInt,
        expires_at -> Nullable<BigInt>,
        verify_after -> BigInt,
        verify_attempts -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        organization_id -> BigInt,
        username -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        phone_number -> Nullable<Text>,
        phone_number_verified -> Bool,
        profile -> Text,
        password_hash -> Nullable<Text>,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_second_factor -> Nullable<Text>,
        version -> BigInt,
        password_rehashed_from -> Nullable<Text>,
    }
}

diesel::table! {
    signing_keys (organization_id, kid) {
        organization_id -> BigInt,
        kid -> Text,
        alg -> Text,
        state -> Text,
        public_jwk -> Text,
        private_key -> Binary,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
        activate_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    login_transactions (id) {
        id -> Text,
        organization_id -> BigInt,
        application_id -> Nullable<Text>,
        request -> Text,
        browser_hash -> Text,
        csrf_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        completed_at -> Nullable<BigInt>,
        user_id -> Nullable<Text>,
        passed -> Text,
        session_sid -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        sid -> Text,
        organization_id -> BigInt,
        user_id -> Text,
        auth_time -> BigInt,
        amr -> Text,
        acr -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        ended_at -> Nullable<BigInt>,
        passed -> Text,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        last_seen_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        organization_id -> BigInt,
        application_id -> Text,
        user_id -> Nullable<Text>,
        sid -> Nullable<Text>,
        scope -> Text,
        auth_time -> BigInt,
        amr -> Text,
        acr -> Text,
        nonce -> Nullable<Text>,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        claims -> Nullable<Text>,
        resource -> Nullable<Text>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        grant_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Nullable<Text>,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    access_tokens (jti) {
        jti -> Text,
        grant_id -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    revoked_access_tokens (jti) {
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Text,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        failures -> BigInt,
        window_start -> BigInt,
        locked_until -> Nullable<BigInt>,
        lock_count -> BigInt,
    }
}

diesel::table! {
    sms_sends (id) {
        id -> Text,
        organization_id -> BigInt,
        user_id -> Text,
        phone_number -> Text,
        client_ip -> Text,
        region -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    sms_receipts (organization_id, gateway, message_id) {
        organization_id -> BigInt,
        gateway -> Text,
        message_id -> Text,
        delivery -> Text,
        detail -> Text,
        received_at -> BigInt,
    }
}

diesel::table! {
    used_assertions (id) {
        id -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    consents (user_id, application_id) {
        user_id -> Text,
        application_id -> Text,
        scope -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    kek_check (id) {
        id -> BigInt,
        sealed -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    ceremonies (id) {
        id -> Text,
        bound_to -> Text,
        factor -> Text,
        sealed -> Binary,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sent_codes (id) {
        id -> Text,
        transaction_id -> Text,
        factor -> Text,
        seq -> BigInt,
        user_id -> Text,
        destination -> Text,
        code_hash -> Binary,
        created_at -> BigInt,
        expires_at -> BigInt,
        failed_attempts -> BigInt,
        used_at -> Nullable<BigInt>,
        voided_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sms_otps (id) {
        id -> Text,
        transaction_id -> Text,
        seq -> BigInt,
        user_id -> Text,
        phone_number -> Text,
        code_hash -> Binary,
        created_at -> BigInt,
        expires_at -> BigInt,
        failed_attempts -> BigInt,
        used_at -> Nullable<BigInt>,
        voided_at -> Nullable<BigInt>,
        event_jti -> Nullable<Text>,
        gateway -> Nullable<Text>,
        message_id -> Nullable<Text>,
        delivery -> Nullable<Text>,
        delivery_detail -> Nullable<Text>,
    }
}

diesel::table! {
    deliveries (id) {
        id -> Text,
        jti -> Text,
        organization_id -> BigInt,
        target -> Text,
        state -> Text,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        give_up_at -> BigInt,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    backup_codes (user_id, code_hash) {
        user_id -> Text,
        code_hash -> Binary,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    credentials (id) {
        id -> Text,
        organization_id -> BigInt,
        user_id -> Text,
        factor -> Text,
        name -> Text,
        sealed -> Binary,
        version -> BigInt,
        created_at -> BigInt,
        confirmed_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
        lookup -> Nullable<Text>,
    }
}

diesel::table! {
    event_outbox (jti) {
        jti -> Text,
        organization_id -> BigInt,
        event_type -> Text,
        payload -> Binary,
        sealed -> Bool,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        delivered_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    account_changes (id) {
        id -> Text,
        organization_id -> BigInt,
        user_id -> Text,
        change -> Text,
        detail -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(applications -> organizations (organization_id));
diesel::table! {
    magic_links (token_hash) {
        token_hash -> Text,
        organization_id -> BigInt,
        transaction_id -> Text,
        user_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    federation_states (state_hash) {
        state_hash -> Text,
        organization_id -> BigInt,
        transaction_id -> Text,
        provider -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    federated_identities (organization_id, issuer, subject) {
        organization_id -> BigInt,
        issuer -> Text,
        subject -> Text,
        provider -> Text,
        user_id -> Text,
        created_at -> BigInt,
        last_used_at -> BigInt,
    }
}

diesel::table! {
    admin_roles (id) {
        id -> Text,
        principal -> Text,
        organization_id -> Nullable<BigInt>,
        role -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        id -> Text,
        organization_id -> Nullable<BigInt>,
        actor -> Text,
        actor_name -> Text,
        via -> Text,
        action -> Text,
        entity -> Text,
        entity_id -> Text,
        changes -> Text,
        ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::joinable!(users -> organizations (organization_id));
diesel::joinable!(signing_keys -> organizations (organization_id));
diesel::joinable!(authorization_codes -> grants (grant_id));
diesel::joinable!(access_tokens -> grants (grant_id));
diesel::joinable!(refresh_tokens -> grants (grant_id));
diesel::table! {
    registrations (token_hash) {
        token_hash -> Text,
        organization_id -> BigInt,
        transaction_id -> Text,
        client_id -> Text,
        browser_hash -> Text,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    applications,
    users,
    signing_keys,
    login_transactions,
    sessions,
    grants,
    authorization_codes,
    access_tokens,
    revoked_access_tokens,
    refresh_tokens,
    login_throttle,
    sms_sends,
    sms_receipts,
    used_assertions,
    consents,
    kek_check,
    sms_otps,
    sent_codes,
    ceremonies,
    backup_codes,
    credentials,
    event_outbox,
    account_changes,
    deliveries,
    subscriptions,
    magic_links,
    registrations,
    federation_states,
    federated_identities,
    admin_roles,
    audit_log,
);
