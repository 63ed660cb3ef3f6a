-- Owned by the platform: cache keys that a committed write made stale. The write records its keys in the
-- same transaction; every serving process replays new rows into its own cache (Redis or in-process), so an
-- invalidation that failed while Redis was down, or that an operator command made without the services'
-- cache, still reaches every cache. Rows older than the longest cache TTL are purged.
CREATE TABLE cache_invalidations (
  id bigserial PRIMARY KEY,
  cache_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX cache_invalidations_created_idx ON cache_invalidations (created_at);
