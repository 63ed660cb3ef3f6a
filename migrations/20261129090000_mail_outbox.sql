-- Owned by the auth service: mails the platform owes a user, kept until they are sent or given up on, so an
-- SMTP outage or a stopped process does not lose them. A row holds what to send, never the mail itself: a
-- reset link is issued (a fresh token, earlier ones voided) at each delivery attempt, so no token is stored.
-- Gone with the account (ON DELETE CASCADE).
CREATE TABLE mail_outbox (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('reset_link', 'reset_notice', 'change_notice')),
  created_at timestamptz NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  -- The failure's class only (an SMTP reply code, a connection error code), never its text: replies echo addresses.
  last_error text CHECK (length(last_error) <= 64),
  sent_at timestamptz,
  failed_at timestamptz
);

CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

CREATE INDEX mail_outbox_user_idx ON mail_outbox (user_id);
