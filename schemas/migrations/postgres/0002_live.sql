-- The live channel: the request log (every SOAP request, for `imsfeed es log`, the repeat check
-- and the rolling 24 h removal limits) and the IMS ES membership identifiers (an IMS ES client
-- names a membership by an id of its own; our key is (group, member, role)).

CREATE TABLE live_requests (
    id            bigserial PRIMARY KEY,
    tenant        text NOT NULL,
    at            timestamptz NOT NULL,
    dialect       text NOT NULL,
    operation     text NOT NULL,
    message_id    text NOT NULL DEFAULT '',
    keys          text NOT NULL DEFAULT '',
    code_major    text NOT NULL,
    code_minor    text NOT NULL DEFAULT '',
    description   text NOT NULL DEFAULT '',
    duration_us   bigint NOT NULL DEFAULT 0,
    state_version bigint NOT NULL DEFAULT 0,
    removed_persons     integer NOT NULL DEFAULT 0,
    removed_groups      integer NOT NULL DEFAULT 0,
    removed_memberships integer NOT NULL DEFAULT 0,
    result        text
);
CREATE INDEX live_requests_tenant ON live_requests (tenant, at);
CREATE INDEX live_requests_message ON live_requests (tenant, message_id) WHERE message_id <> '';

CREATE TABLE live_membership_ids (
    tenant     text NOT NULL,
    id         text NOT NULL,
    group_key  text NOT NULL,
    member_key text NOT NULL,
    role       text NOT NULL,
    PRIMARY KEY (tenant, id, group_key, member_key, role)
);
CREATE INDEX live_membership_ids_key ON live_membership_ids (tenant, group_key, member_key, role);

CREATE TABLE live_allowances (
    id      bigserial PRIMARY KEY,
    tenant  text NOT NULL,
    at      timestamptz NOT NULL,
    deletes integer NOT NULL,
    used    integer NOT NULL DEFAULT 0,
    granted_by text NOT NULL,
    reason  text NOT NULL
);
