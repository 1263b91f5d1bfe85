-- The hierarchy (issue 15): the course template a new course starts from (courses.template,
-- stored when the course is created and never changed by an import), and the school year a
-- tenant's rollover made current (NULL: the config's school_year.current).

ALTER TABLE groups ADD COLUMN template TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN school_year TEXT;
