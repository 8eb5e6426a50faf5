-- What the account area shows of a user's sessions: the browser (its User-Agent, cut to 300
-- characters), the address it signed in from, and when it was last used (updated at most once a
-- minute).
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;
