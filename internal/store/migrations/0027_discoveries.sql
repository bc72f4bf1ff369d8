-- Unknown devices: what agents and imported network scans saw on the plant's networks. A
-- sighting names a device by its keys (machine:<id>, mac:<aa:bb:…>, ip:<address>,
-- host:<name>); a device none of whose keys belongs to an asset is a discovery, with an alarm
-- and a task to claim it (link it to an asset, whose identities it then adds) or reject it.
--
-- discoveries: one device not in the inventory; addresses and macs are JSON arrays of text.
-- state is open, claimed or rejected; realarm (a rejected device) raises a new alarm on its
-- next sighting.
CREATE TABLE discoveries (
    id            TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    source        TEXT NOT NULL,
    reported_by   TEXT NOT NULL DEFAULT '',
    hostname      TEXT NOT NULL DEFAULT '',
    machine_id    TEXT NOT NULL DEFAULT '',
    os            TEXT NOT NULL DEFAULT '',
    addresses     TEXT NOT NULL DEFAULT '',
    macs          TEXT NOT NULL DEFAULT '',
    vendor        TEXT NOT NULL DEFAULT '',
    model         TEXT NOT NULL DEFAULT '',
    sightings     INTEGER NOT NULL DEFAULT 1,
    first_seen_at {{TS}} NOT NULL,
    last_seen_at  {{TS}} NOT NULL,
    alarm_id      TEXT NOT NULL DEFAULT '',
    asset_id      TEXT NOT NULL DEFAULT '',
    reason        TEXT NOT NULL DEFAULT '',
    realarm       BOOLEAN NOT NULL DEFAULT FALSE,
    decided_by    TEXT NOT NULL DEFAULT '',
    decided_at    {{TS}}
);
CREATE INDEX discoveries_seen ON discoveries (last_seen_at, id);
CREATE INDEX discoveries_state ON discoveries (state, last_seen_at);

-- discovery_keys: every key a discovery was seen with; a key belongs to one discovery.
CREATE TABLE discovery_keys (
    ident        TEXT PRIMARY KEY,
    discovery_id TEXT NOT NULL REFERENCES discoveries(id)
);
CREATE INDEX discovery_keys_discovery ON discovery_keys (discovery_id);

-- asset_identities: keys an asset is known by beyond its name and endpoint address: learnt from
-- its own agent's reports, or given when a discovery is claimed for it.
CREATE TABLE asset_identities (
    ident         TEXT PRIMARY KEY,
    asset_id      TEXT NOT NULL REFERENCES assets(id),
    source        TEXT NOT NULL,
    first_seen_at {{TS}} NOT NULL,
    last_seen_at  {{TS}} NOT NULL
);
CREATE INDEX asset_identities_asset ON asset_identities (asset_id);

-- agent_hosts: what each asset's agent last said of its host.
CREATE TABLE agent_hosts (
    asset_id    TEXT PRIMARY KEY REFERENCES assets(id),
    hostname    TEXT NOT NULL DEFAULT '',
    machine_id  TEXT NOT NULL DEFAULT '',
    os          TEXT NOT NULL DEFAULT '',
    addresses   TEXT NOT NULL DEFAULT '',
    macs        TEXT NOT NULL DEFAULT '',
    known       BOOLEAN NOT NULL DEFAULT FALSE,
    reported_at {{TS}} NOT NULL
);

-- An alarm a person cleared (a rejected unknown device) stays, with who cleared it and when.
ALTER TABLE alarms ADD COLUMN cleared_at {{TS}};
ALTER TABLE alarms ADD COLUMN cleared_by TEXT NOT NULL DEFAULT '';
