-- The live channel: the request log (every SOAP request, for `imsfeed es log`, the repeat check
-- and the rolling 24 h removal limits) and the IMS ES membership identifiers (an IMS ES client
-- names a membership by an id of its own; our key is (group, member, role)).

CREATE TABLE live_requests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant        TEXT NOT NULL,
    at            TEXT NOT NULL,
    dialect       TEXT NOT NULL,
    operation     TEXT NOT NULL,
    message_id    TEXT NOT NULL DEFAULT '',
    keys          TEXT NOT NULL DEFAULT '',
    code_major    TEXT NOT NULL,
    code_minor    TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL DEFAULT '',
    duration_us   INTEGER NOT NULL DEFAULT 0,
    state_version INTEGER NOT NULL DEFAULT 0,
    removed_persons     INTEGER NOT NULL DEFAULT 0,
    removed_groups      INTEGER NOT NULL DEFAULT 0,
    removed_memberships INTEGER NOT NULL DEFAULT 0,
    result        TEXT
);
CREATE INDEX live_requests_tenant ON live_requests (tenant, at);
CREATE INDEX live_requests_message ON live_requests (tenant, message_id) WHERE message_id <> '';

CREATE TABLE live_membership_ids (
    tenant     TEXT NOT NULL,
    id         TEXT NOT NULL,
    group_key  TEXT NOT NULL,
    member_key TEXT NOT NULL,
    role       TEXT NOT NULL,
    PRIMARY KEY (tenant, id, group_key, member_key, role)
);
CREATE INDEX live_membership_ids_key ON live_membership_ids (tenant, group_key, member_key, role);

CREATE TABLE live_allowances (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant  TEXT NOT NULL,
    at      TEXT NOT NULL,
    deletes INTEGER NOT NULL,
    used    INTEGER NOT NULL DEFAULT 0,
    granted_by TEXT NOT NULL,
    reason  TEXT NOT NULL
);
