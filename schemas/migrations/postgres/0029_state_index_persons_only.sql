-- The state index keeps persons only (issue 18). Memberships are read from their packs
-- (migration 0028: about 20 bytes a membership), so the index's membership buckets, 4096 to
-- 8191 (about 30 bytes a membership), were a second copy that every import and live request
-- wrote too. They are deleted. Every tenant's index is marked stale, so that an older imsfeed
-- still running reads the rows rather than an index without memberships; the next import of
-- each tenant reads its persons' rows once and rebuilds the index.
DELETE FROM state_index WHERE bucket >= 4096 AND bucket < 8192;
UPDATE tenants SET index_version = -1;
