-- Owned by the auth service: access tokens of the user issued before this time are refused by the gateway
-- and every service (checked per request, cached at most 5 s). Set when the account is disabled, demoted,
-- or its password reset; NULL means no token was ever revoked.
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;
