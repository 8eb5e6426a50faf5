-- A rotated-in key is published first and signs only from activate_at on, so every node and
-- relying party has seen it in the key set before a token signed with it arrives.
ALTER TABLE signing_keys ADD COLUMN activate_at BIGINT;
