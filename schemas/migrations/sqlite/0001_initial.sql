-- Tenant state, run records and held plans. Keys are (tenant, key); memberships reference
-- persons and groups by key only (no foreign keys): a membership may name a trashed person or
-- a group the store does not know. Times are TEXT in fixed-width UTC (they sort as text).

CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,
    state_version INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE persons (
    tenant      TEXT NOT NULL,
    key         TEXT NOT NULL CHECK (key <> ''),
    source      TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL DEFAULT '',
    attrs       TEXT,
    hash        BLOB NOT NULL CHECK (length(hash) = 16),
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'trashed')),
    trashed_at  TEXT,
    trashed_run INTEGER,
    PRIMARY KEY (tenant, key)
) WITHOUT ROWID;

CREATE TABLE groups (
    tenant       TEXT NOT NULL,
    key          TEXT NOT NULL CHECK (key <> ''),
    source       TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL DEFAULT '',
    types        TEXT,
    parents      TEXT,
    attrs        TEXT,
    hash         BLOB NOT NULL CHECK (length(hash) = 16),
    status       TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    archived_at  TEXT,
    archived_run INTEGER,
    is_course    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, key)
) WITHOUT ROWID;

CREATE TABLE memberships (
    tenant      TEXT NOT NULL,
    group_key   TEXT NOT NULL CHECK (group_key <> ''),
    member_key  TEXT NOT NULL CHECK (member_key <> ''),
    role        TEXT NOT NULL CHECK (role GLOB '0[1-8]'),
    member_type INTEGER NOT NULL CHECK (member_type IN (1, 2)),
    attrs       TEXT,
    hash        BLOB NOT NULL,
    origin      TEXT NOT NULL DEFAULT 'synced' CHECK (origin IN ('synced', 'manual')),
    PRIMARY KEY (tenant, group_key, member_key, role)
) WITHOUT ROWID;

CREATE TABLE runs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant     TEXT NOT NULL,
    status     TEXT NOT NULL,
    started_at TEXT,
    data       TEXT NOT NULL
);
CREATE INDEX runs_tenant ON runs (tenant, id);

CREATE TABLE run_plans (
    run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    plan   BLOB NOT NULL
);
