-- Owned by GDPR erasure: one row per erased person, kept for good and replayed by every restore, so that
-- restoring a backup taken before the erasure does not bring the person back. It holds no email and no
-- id in clear: subject_hash is the SHA-256 of the user id (a random UUID, so the hash cannot be reversed
-- by guessing), which is all a restore needs to find the person's rows again.
CREATE TABLE gdpr_deletion_ledger (
  id uuid PRIMARY KEY,
  subject_hash text NOT NULL UNIQUE CHECK (subject_hash ~ '^[0-9a-f]{64}$'),
  pseudonym text NOT NULL,
  erased_at timestamptz NOT NULL,
  requested_by text NOT NULL CHECK (requested_by IN ('operator', 'self-service')),
  summary jsonb NOT NULL DEFAULT '{}'::jsonb
);
