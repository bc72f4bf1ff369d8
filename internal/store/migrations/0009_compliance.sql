-- NERC CIP-007-6 R2 patch compliance: the evaluation of each patch and advisory (decision,
-- reason, who and when), mitigation plans with their compensating controls, owner and due date,
-- and the extensions of a plan's due date that an approver grants. Dates that deadlines are
-- counted in are UTC calendar dates kept as TEXT 'YYYY-MM-DD', so text order is date order on
-- both databases. {{TS}} is TIMESTAMP on SQLite and TIMESTAMPTZ on PostgreSQL.
CREATE TABLE compliance_evaluations (
    subject_type TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    decision     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    evaluated_by TEXT NOT NULL,
    evaluated_at {{TS}} NOT NULL,
    evaluated_on TEXT NOT NULL,
    changed_by   TEXT NOT NULL DEFAULT '',
    updated_at   {{TS}} NOT NULL,
    PRIMARY KEY (subject_type, subject_id)
);

CREATE TABLE mitigation_plans (
    id              TEXT PRIMARY KEY,
    subject_type    TEXT NOT NULL,
    subject_id      TEXT NOT NULL,
    controls        TEXT NOT NULL,
    owner           TEXT NOT NULL,
    due_on          TEXT NOT NULL,
    original_due_on TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      {{TS}} NOT NULL,
    completed_by    TEXT NOT NULL DEFAULT '',
    completed_at    {{TS}}
);
CREATE INDEX mitigation_plans_subject ON mitigation_plans (subject_type, subject_id);

CREATE TABLE mitigation_extensions (
    id              TEXT PRIMARY KEY,
    plan_id         TEXT NOT NULL REFERENCES mitigation_plans(id),
    reason          TEXT NOT NULL,
    previous_due_on TEXT NOT NULL,
    new_due_on      TEXT NOT NULL,
    status          TEXT NOT NULL,
    requested_by    TEXT NOT NULL,
    requested_at    {{TS}} NOT NULL,
    decided_by      TEXT NOT NULL DEFAULT '',
    decision_reason TEXT NOT NULL DEFAULT '',
    decided_at      {{TS}}
);
CREATE INDEX mitigation_extensions_plan ON mitigation_extensions (plan_id, requested_at);


-- A page of the audit trail filtered by actor and action: without it PostgreSQL walks all of
-- an actor's events looking for a rare action (200 ms on a 1,000,000-event trail, see
-- docs/benchmarks.md).
CREATE INDEX audit_events_actor_action ON audit_events (actor, action, seq);
