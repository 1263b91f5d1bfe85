-- Memberships packed by group (issue 18, README "Round two": the memberships' layout): a
-- group's memberships in rows of at most 64 entries and about 1,800 bytes (store/internal/packs
-- encodes them), each keyed by its least member key ('' for the group's first pack), with the
-- count of its entries and of its manual ones so counts are sums. Beside them, a row per member
-- with the groups it is in, to find a member's memberships. The server then keeps one index
-- entry a pack and one a member where it kept two a membership: an initial load's memberships
-- cost it about 2 s where the rows cost 7.3 s (316.8 MB feed).
--
-- The rows of memberships are moved into these by the Go step of this migration
-- (sqlstore.Migrate's steps), which then drops the memberships table.

CREATE TABLE membership_packs (
    tenant       text COLLATE "C" NOT NULL,
    group_key    text COLLATE "C" NOT NULL CHECK (group_key <> ''),
    first_member text COLLATE "C" NOT NULL,
    entries      integer NOT NULL CHECK (entries > 0),
    manual       integer NOT NULL CHECK (manual >= 0 AND manual <= entries),
    data         bytea NOT NULL,
    PRIMARY KEY (tenant, group_key, first_member)
);

CREATE TABLE member_groups (
    tenant      text COLLATE "C" NOT NULL,
    member_type smallint NOT NULL CHECK (member_type IN (1, 2)),
    member_key  text COLLATE "C" NOT NULL CHECK (member_key <> ''),
    groups      bytea NOT NULL,
    PRIMARY KEY (tenant, member_type, member_key)
);
