-- Memberships packed by group: see the PostgreSQL migration of the same name. The rows of
-- memberships are moved into these by the Go step of this migration, which then drops the
-- memberships table.

CREATE TABLE membership_packs (
    tenant       TEXT NOT NULL,
    group_key    TEXT NOT NULL CHECK (group_key <> ''),
    first_member TEXT NOT NULL,
    entries      INTEGER NOT NULL CHECK (entries > 0),
    manual       INTEGER NOT NULL CHECK (manual >= 0 AND manual <= entries),
    data         BLOB NOT NULL,
    PRIMARY KEY (tenant, group_key, first_member)
) WITHOUT ROWID;

CREATE TABLE member_groups (
    tenant      TEXT NOT NULL,
    member_type INTEGER NOT NULL CHECK (member_type IN (1, 2)),
    member_key  TEXT NOT NULL CHECK (member_key <> ''),
    groups      BLOB NOT NULL,
    PRIMARY KEY (tenant, member_type, member_key)
) WITHOUT ROWID;
