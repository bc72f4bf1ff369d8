-- Personal API tokens end. expires_at is when a token stops working: NULL for agent
-- credentials, whose lifecycle is their own (agent_credentials), and for tokens made before
-- this version, which an admin lists and replaces. last_used_at is when the token last
-- authenticated a request, noted at most once a minute.
ALTER TABLE tokens ADD COLUMN expires_at {{TS}};
ALTER TABLE tokens ADD COLUMN last_used_at {{TS}};
CREATE INDEX tokens_name ON tokens (name);
