-- Owned by the auth service: why a refresh token was revoked, so that presenting a token ended by logout
-- (or by an operator) is a plain invalid token, while a token of a family revoked for reuse stays token_reused.
-- NULL on tokens revoked before this column existed (treated as reuse, as they were).
ALTER TABLE refresh_tokens ADD COLUMN revoked_reason text CHECK (revoked_reason IN ('logout', 'reuse', 'account'));
