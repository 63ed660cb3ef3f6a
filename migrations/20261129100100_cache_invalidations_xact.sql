-- Owned by the platform: the transaction that wrote each invalidation. A replay reads the rows committed
-- since its previous snapshot (pg_current_snapshot), so a row is replayed whatever the delay between its
-- insert and its commit; the insert time only bounds the first replay of a process and the purge (ADR 0230).
ALTER TABLE cache_invalidations ADD COLUMN xact xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE INDEX cache_invalidations_xact_idx ON cache_invalidations (xact);
