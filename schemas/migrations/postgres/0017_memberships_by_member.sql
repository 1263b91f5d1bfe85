-- The memberships of one person (the console's person page, the live channel's reads by
-- person) by index: the primary key leads with the group, so without this every such read
-- scanned all of a tenant's memberships.

CREATE INDEX memberships_member ON memberships (tenant, member_key);
