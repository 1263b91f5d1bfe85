-- Relations between persons (a pupil's carers and mentors), read from a person's extension:
-- (person, related person, type). Like memberships they reference persons by key only; an
-- import removes a person's relations, both ways, when the person goes to the trash can.

CREATE TABLE relations (
    tenant      text NOT NULL,
    person_key  text NOT NULL CHECK (person_key <> ''),
    related_key text NOT NULL CHECK (related_key <> ''),
    type        text NOT NULL CHECK (type <> ''),
    attrs       jsonb,
    hash        bytea NOT NULL CHECK (length(hash) = 16),
    PRIMARY KEY (tenant, person_key, related_key, type)
);
CREATE INDEX relations_related ON relations (tenant, related_key);
