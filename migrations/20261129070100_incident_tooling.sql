-- Owned by the gateway: what `azora incident declare|update|resolve` adds to the incidents the status page
-- lists. The guide's reference (incident-2025-001) is what operators type and the channel is named after; the
-- uuid stays the key so incidents opened before this migration keep theirs (their reference is NULL).
ALTER TABLE incidents ADD COLUMN reference text UNIQUE CHECK (reference ~ '^incident-[0-9]{4}-[0-9]{3,6}$');
ALTER TABLE incidents ADD COLUMN severity smallint CHECK (severity BETWEEN 1 AND 4);
ALTER TABLE incidents ADD COLUMN service text NOT NULL DEFAULT '' CHECK (length(service) <= 100);
ALTER TABLE incidents ADD COLUMN eta_minutes integer CHECK (eta_minutes BETWEEN 1 AND 10080);

-- Each status change with its public message: the status page shows them, the post-mortem's timeline reads them.
CREATE TABLE incident_updates (
  id bigserial PRIMARY KEY,
  incident_id uuid NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  status text NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
  message text NOT NULL CHECK (length(message) BETWEEN 1 AND 2000),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX incident_updates_incident_idx ON incident_updates (incident_id, created_at);
