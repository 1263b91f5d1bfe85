-- What each live request that changed the tenant's state touched (change.Touch as JSON: the
-- persons, groups, memberships and relations it changed, removed or named). Approval reads
-- those of the requests applied since a held plan was made, and applies the plan when none of
-- them touched what it changes (change.Touched.Conflict), instead of refusing whenever an SIS
-- sent anything meanwhile. NULL for requests that changed nothing and those logged before.
ALTER TABLE live_requests ADD COLUMN touched text;
