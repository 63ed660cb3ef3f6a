-- Key rotation without failed requests: a new key is published at once but signs only from signs_from
-- (after every verifier's JWKS cache can have seen it); an old key's retired_at may lie in the future
-- (it stays published until the longest access token it signed has expired).
ALTER TABLE signing_keys ADD COLUMN signs_from timestamptz NOT NULL DEFAULT now();
