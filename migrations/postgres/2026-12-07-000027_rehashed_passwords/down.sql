ALTER TABLE users DROP COLUMN password_rehashed_from;
