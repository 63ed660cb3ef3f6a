-- The security policy in force (one row): every process reads thresholds from here, so
-- `azora security policies update FILE` reaches them all without a restart, as the maintenance flag does.
-- Empty until the first update: until then the shipped deployment/security/policy.yaml applies.
CREATE TABLE security_policy (
  id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  document jsonb NOT NULL,
  source text NOT NULL DEFAULT '' CHECK (length(source) <= 1000),
  updated_at timestamptz NOT NULL DEFAULT now()
);
