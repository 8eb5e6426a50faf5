ALTER TABLE applications DROP COLUMN id_token_alg;
