-- Owned by the auth service: the scheduled purge finds expired and long-revoked refresh tokens by index.
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

CREATE INDEX refresh_tokens_revoked_idx ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
