DROP TABLE federated_identities;
DROP TABLE federation_states;
DROP TABLE magic_links;
