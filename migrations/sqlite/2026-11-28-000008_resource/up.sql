-- The API resource (RFC 8707) a grant's access tokens are for; NULL means UserInfo.
ALTER TABLE grants ADD COLUMN resource TEXT;
