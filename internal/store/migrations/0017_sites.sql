-- Sites behind conduits. device_work says where the device work (backup, deploy, verify,
-- restore) of a site's assets runs: "central" (the central workers reach the devices) or
-- "site_worker" (a worker at the site polls the site's own task queue and alone reaches them).
-- unreachable_after_seconds is how long device work of a site_worker site waits for a worker
-- to take it before the asset ends site_unreachable (60 seconds to 30 days).
ALTER TABLE sites ADD COLUMN device_work TEXT NOT NULL DEFAULT 'central';
ALTER TABLE sites ADD COLUMN unreachable_after_seconds INTEGER NOT NULL DEFAULT 3600;

-- site_workers: the pollers of a site's task queue, as Temporal describes them, one row per
-- Temporal identity (a restarted worker has a new one: its pid changes). last_poll_at is the
-- poller's last access as Temporal reports it; lost_at is set when the worker stopped polling
-- (site.worker_lost) and cleared when it polls again (site.worker_seen).
CREATE TABLE site_workers (
    site_id       TEXT NOT NULL REFERENCES sites(id),
    identity      TEXT NOT NULL,
    version       TEXT NOT NULL DEFAULT '',
    host          TEXT NOT NULL DEFAULT '',
    first_seen_at {{TS}} NOT NULL,
    last_poll_at  {{TS}} NOT NULL,
    lost_at       {{TS}},
    PRIMARY KEY (site_id, identity)
);
