-- Tenant state, run records and held plans. Keys are (tenant, key); memberships reference
-- persons and groups by key only (no foreign keys): a membership may name a trashed person or
-- a group the store does not know.

CREATE TABLE tenants (
    id            text PRIMARY KEY,
    state_version bigint NOT NULL DEFAULT 0
);

CREATE TABLE persons (
    tenant      text NOT NULL,
    key         text NOT NULL CHECK (key <> ''),
    source      text NOT NULL DEFAULT '',
    name        text NOT NULL DEFAULT '',
    attrs       jsonb,
    hash        bytea NOT NULL CHECK (length(hash) = 16),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'trashed')),
    trashed_at  timestamptz,
    trashed_run bigint,
    PRIMARY KEY (tenant, key)
);
CREATE INDEX persons_trashed ON persons (tenant, trashed_at) WHERE status = 'trashed';

CREATE TABLE groups (
    tenant       text NOT NULL,
    key          text NOT NULL CHECK (key <> ''),
    source       text NOT NULL DEFAULT '',
    name         text NOT NULL DEFAULT '',
    types        jsonb,
    parents      jsonb,
    attrs        jsonb,
    hash         bytea NOT NULL CHECK (length(hash) = 16),
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    archived_at  timestamptz,
    archived_run bigint,
    is_course    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant, key)
);

CREATE TABLE memberships (
    tenant      text NOT NULL,
    group_key   text NOT NULL CHECK (group_key <> ''),
    member_key  text NOT NULL CHECK (member_key <> ''),
    role        text NOT NULL CHECK (role ~ '^0[1-8]$'),
    member_type smallint NOT NULL CHECK (member_type IN (1, 2)),
    attrs       jsonb,
    hash        bytea NOT NULL,
    origin      text NOT NULL DEFAULT 'synced' CHECK (origin IN ('synced', 'manual')),
    PRIMARY KEY (tenant, group_key, member_key, role)
);

CREATE TABLE runs (
    id         bigserial PRIMARY KEY,
    tenant     text NOT NULL,
    status     text NOT NULL,
    started_at timestamptz,
    data       jsonb NOT NULL
);
CREATE INDEX runs_tenant ON runs (tenant, id);

CREATE TABLE run_plans (
    run_id bigint PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    plan   bytea NOT NULL
);
