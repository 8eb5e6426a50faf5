-- The OIDC `claims` request parameter of the authorization, as JSON: which claims go into the
-- ID token and the UserInfo response beyond those of the scopes.
ALTER TABLE grants ADD COLUMN claims TEXT;
