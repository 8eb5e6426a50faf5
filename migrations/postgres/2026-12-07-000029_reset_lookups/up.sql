-- A password reset ends every open sign-in of the user and voids their unused links: found by
-- user among the open ones only.
CREATE INDEX login_transactions_open_by_user ON login_transactions (user_id) WHERE completed_at IS NULL;
CREATE INDEX magic_links_unused_by_user ON magic_links (user_id) WHERE used_at IS NULL;
