-- A held run's changes as rows, written in the hold's transaction beside its plan, so that the
-- console pages and searches a hold of 500,000 changes with a query instead of reading the plan
-- (the plan in run_plans stays what approval applies). Dropped when the hold is decided.
-- type: record.Type (0 persons, 1 groups, 2 memberships); op: change.Op's name. key and name
-- are the person or group (a membership's group); member, member_name and role a
-- membership's member. fields: an update's changed fields as JSON [{"Name","Old","New"}].
-- search: key, name, member, member name and an old name, lower-cased and joined by newlines:
-- what a search looks in, with one strpos() per row.
CREATE TABLE held_changes (
    run_id      bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    type        smallint NOT NULL,
    op          text NOT NULL,
    key         text NOT NULL,
    name        text NOT NULL,
    member      text NOT NULL,
    member_name text NOT NULL,
    role        text NOT NULL,
    course      boolean NOT NULL,
    fields      text,
    search      text NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- What a held run's page shows above the list, computed once at the hold: how many changes it
-- has, where each type's rows are (types: JSON {"type": {"first", "last", "n"}}; a type whose
-- rows are contiguous is paged by seq, not by OFFSET) and "where the removals come from"
-- (archive.Removals, as JSON).
CREATE TABLE held_summaries (
    run_id   bigint PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    changes  integer NOT NULL,
    types    text NOT NULL,
    removals text NOT NULL
);
