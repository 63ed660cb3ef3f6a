-- Owned by the gateway: the maintenance flag every gateway process polls (one row), and the incidents the
-- status page lists (filled by the incident tooling).
CREATE TABLE maintenance_mode (
  id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  enabled boolean NOT NULL DEFAULT false,
  message text NOT NULL DEFAULT '' CHECK (length(message) <= 500),
  retry_after_seconds integer NOT NULL DEFAULT 600 CHECK (retry_after_seconds BETWEEN 1 AND 86400),
  changed_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO maintenance_mode (id) VALUES (1);

CREATE TABLE incidents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  impact text NOT NULL DEFAULT 'minor' CHECK (impact IN ('minor', 'major', 'critical')),
  status text NOT NULL DEFAULT 'investigating' CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
  message text NOT NULL DEFAULT '' CHECK (length(message) <= 2000),
  components text[] NOT NULL DEFAULT '{}',
  started_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz
);

CREATE INDEX incidents_open_idx ON incidents (started_at DESC) WHERE resolved_at IS NULL;
