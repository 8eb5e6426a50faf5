-- A password hash imported from another system (bcrypt, PBKDF2, scrypt) is replaced by argon2id at
-- the user's next sign-in; this keeps the SHA-256 of the hash it replaced, so importing the same
-- provisioning file again keeps the argon2id hash instead of putting the old one back.
ALTER TABLE users ADD COLUMN password_rehashed_from TEXT;
