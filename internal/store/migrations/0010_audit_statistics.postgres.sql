-- PostgreSQL only. Event times are text; with the default 100 histogram buckets the planner
-- overestimates how many events fall in a day and walks the trail in sequence order instead
-- of reading the day through audit_events_at. A finer histogram fixes the estimate (see
-- docs/benchmarks.md). It takes effect at the next ANALYZE, which autovacuum runs as the
-- trail grows.
ALTER TABLE audit_events ALTER COLUMN at SET STATISTICS 1000;
