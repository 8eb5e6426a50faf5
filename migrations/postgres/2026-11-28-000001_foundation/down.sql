DROP TABLE signing_keys;
DROP TABLE users;
DROP TABLE applications;
DROP TABLE organizations;
