-- Owned by the auth service: password reset tokens, stored only as SHA-256 (the token itself exists only in
-- the mail). A token is single-use (used_at), voided when a newer one is issued or the password changes
-- (voided_at), and refused after expires_at. Gone with the account (ON DELETE CASCADE).
CREATE TABLE password_reset_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE CHECK (length(token_hash) = 64),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  voided_at timestamptz
);

CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id, created_at);

CREATE INDEX password_reset_tokens_expires_idx ON password_reset_tokens (expires_at);
