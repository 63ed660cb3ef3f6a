-- Owned by the gateway: per upstream, the blue and the green target sets, which colour is live, and the
-- share of requests (0-100) the other colour receives as a canary. Every gateway process polls it; no row
-- for an upstream means its configured URL (AUTH_URL, USERS_URL) alone, as before traffic switching.
CREATE TABLE traffic_routes (
  upstream text PRIMARY KEY CHECK (upstream IN ('auth', 'users')),
  blue text[] NOT NULL DEFAULT '{}' CHECK (cardinality(blue) <= 16),
  green text[] NOT NULL DEFAULT '{}' CHECK (cardinality(green) <= 16),
  active text NOT NULL DEFAULT 'blue' CHECK (active IN ('blue', 'green')),
  canary_weight smallint NOT NULL DEFAULT 0 CHECK (canary_weight BETWEEN 0 AND 100),
  revision bigint NOT NULL DEFAULT 1,
  changed_at timestamptz NOT NULL DEFAULT now(),
  -- The live colour always has somewhere to send requests; a canary needs the other colour too.
  CHECK (cardinality(CASE WHEN active = 'blue' THEN blue ELSE green END) > 0),
  CHECK (canary_weight = 0 OR cardinality(CASE WHEN active = 'blue' THEN green ELSE blue END) > 0)
);
