-- Subscriptions (§2, §9): a consumer's right to call a service, with the
-- approval workflow's who and when; route rate limits (Appendix A); and a
-- second tenant on audit entries for changes that concern two tenants.
-- Same portability rules as 00001.

-- +goose Up
CREATE TABLE subscriptions (
    id                 TEXT PRIMARY KEY,
    consumer_id        TEXT NOT NULL REFERENCES consumers (id),
    service_id         TEXT NOT NULL REFERENCES services (id),
    consumer_tenant_id TEXT NOT NULL REFERENCES tenants (id),
    service_tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    state              TEXT NOT NULL,
    plan               TEXT,
    request_note       TEXT NOT NULL DEFAULT '',
    requested_by       TEXT NOT NULL DEFAULT '',
    requested_at       BIGINT NOT NULL,
    decided_by         TEXT NOT NULL DEFAULT '',
    decision_note      TEXT NOT NULL DEFAULT '',
    decided_at         BIGINT,
    revoked_at         BIGINT,
    revoked_by         TEXT NOT NULL DEFAULT '',
    revoke_note        TEXT NOT NULL DEFAULT '',
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
-- At most one open (pending or approved) subscription per consumer and
-- service; rejected and revoked ones are history and may repeat.
CREATE UNIQUE INDEX subscriptions_open ON subscriptions (consumer_id, service_id) WHERE state IN ('pending', 'approved');
CREATE INDEX subscriptions_consumer ON subscriptions (consumer_id, id);
CREATE INDEX subscriptions_service ON subscriptions (service_id, id);
CREATE INDEX subscriptions_consumer_tenant ON subscriptions (consumer_tenant_id, id);
CREATE INDEX subscriptions_service_tenant ON subscriptions (service_tenant_id, id);

-- JSON {"limit","period","by"}; NULL when the route has no limit.
ALTER TABLE routes ADD COLUMN rate_limit TEXT;

-- The second tenant of a change that concerns two (a subscription across
-- tenants); the audit tenant filter matches either column.
ALTER TABLE audit_log ADD COLUMN other_tenant_id TEXT;
CREATE INDEX audit_log_other_tenant ON audit_log (other_tenant_id, id);

-- +goose Down
DROP INDEX audit_log_other_tenant;
ALTER TABLE audit_log DROP COLUMN other_tenant_id;
ALTER TABLE routes DROP COLUMN rate_limit;
DROP TABLE subscriptions;
