-- Owned by the platform (audit): one row per admin action, never updated or deleted by the code. Each row
-- carries the SHA-256 of its own content and of the row before it (prev_hash), so `azora audit verify` finds
-- any row edited, inserted or deleted with SQL. seq is assigned by the writer (head + 1 under a lock), not by
-- a sequence, so the chain has no gaps that a rolled-back transaction could explain away. Actor and target
-- are random user ids or fixed words ("cli", "maintenance"), never an email: erasing a person deletes the row
-- the id points to and leaves the chain intact (ADR 0110).
CREATE TABLE audit_log (
  seq bigint PRIMARY KEY CHECK (seq >= 1),
  occurred_at timestamptz NOT NULL,
  actor text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
  action text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.-]{0,63}$'),
  target text NOT NULL CHECK (length(target) BETWEEN 1 AND 200),
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);
