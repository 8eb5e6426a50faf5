ALTER TABLE users DROP COLUMN last_second_factor;
DROP TABLE credentials;
