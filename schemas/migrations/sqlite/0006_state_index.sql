-- The compact state index (issue 18): per tenant, what the diff needs of every person and
-- membership (keys, content hash, flags; a person's name), packed into buckets of bytes, so an
-- import reads a few hundred values instead of every row. Buckets are written in the same
-- transaction as the rows; tenants.index_version is the state version the index describes,
-- and a loader trusts it only when that equals state_version (else it reads the rows, and the
-- next import rebuilds it). `imsfeed check --tenant T` compares it with the rows.

ALTER TABLE tenants ADD COLUMN index_version INTEGER NOT NULL DEFAULT 0;

-- Every tenant that has rows gets a tenants row, and no existing tenant has an index yet.
INSERT OR IGNORE INTO tenants (id)
SELECT tenant FROM persons UNION SELECT tenant FROM groups UNION SELECT tenant FROM memberships;
UPDATE tenants SET index_version = -1;

CREATE TABLE state_index (
    tenant TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (tenant, bucket)
) WITHOUT ROWID;
