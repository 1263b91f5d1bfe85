-- The live channel's repeat lookup (a tenant's request with this message identifier within
-- the last 24 hours) by index on all three: the planner preferred (tenant, at), and so read
-- every request of the tenant's last day on every write.

DROP INDEX live_requests_message;
CREATE INDEX live_requests_message ON live_requests (tenant, message_id, at) WHERE message_id <> '';
