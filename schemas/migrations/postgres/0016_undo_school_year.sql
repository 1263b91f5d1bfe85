-- Undo gives back the tenant's school year (issue 15): a change set that made another school
-- year current (an approved rollover) keeps the one before it. NULL: the change set did not
-- change the school year; '': the tenant had none of its own (the config's current).

ALTER TABLE run_undo ADD COLUMN school_year_before TEXT;
