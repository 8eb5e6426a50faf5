//! The one schema both backends share. Only portable column types appear here (see the migrations):
//! a query written against it compiles for SQLite and PostgreSQL alike.

diesel::table! {
    organizations (id) {
        id -> BigInt,
        slug -> Text,
        display_name -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
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
    }
}

diesel::joinable!(applications -> organizations (organization_id));
diesel::joinable!(users -> organizations (organization_id));
diesel::joinable!(signing_keys -> organizations (organization_id));
diesel::allow_tables_to_appear_in_same_query!(organizations, applications, users, signing_keys);
