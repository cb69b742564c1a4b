-- AI gateway (§11, issue 8): provider accounts, the model catalogue,
-- per-consumer allowed models, budgets, prompt templates, and the prompt a
-- route of type "prompt" binds. Same portability rules as 00001.
--
-- ai_providers.api_keys holds the provider keys as a JSON array of values
-- sealed under the master key (internal/secrets), never plaintext;
-- api_key_last4 is the parallel JSON array of what people may see of each
-- ("" for short keys). deployments is a JSON object (model → Azure
-- deployment).
--
-- ai_models: prices are BIGINT micro-units (millionths of the currency
-- unit) per 1M tokens, never floating point. A model's targets are rows of
-- ai_model_targets in fallback order (seq 0 first); a provider a
-- target names cannot be deleted (DeleteProvider refuses, the foreign key
-- backs it up).
--
-- ai_access: at most one allow-list per consumer (models: JSON array of
-- names and "prefix*" patterns); no row means every model.
--
-- ai_budgets: one row per (scope, scope_id, budget_period); tenant_id is the
-- scoped object's tenant, copied at creation. amount_micros 0, rpm 0 or
-- tpm 0 mean no such limit; budget_period is '' when there is no amount.
--
-- ai_prompts: names are unique per tenant; variables is a JSON array of
-- {"name","type"}; model is a model alias (name), checked by the admin API.

-- +goose Up
CREATE TABLE ai_providers (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    base_url      TEXT NOT NULL DEFAULT '',
    api_keys      TEXT NOT NULL,
    api_key_last4 TEXT NOT NULL,
    api_version   TEXT NOT NULL DEFAULT '',
    deployments   TEXT NOT NULL,
    declared      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX ai_providers_name ON ai_providers (name);

CREATE TABLE ai_models (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    price_input         BIGINT NOT NULL DEFAULT 0,
    price_cached_input  BIGINT NOT NULL DEFAULT 0,
    price_output        BIGINT NOT NULL DEFAULT 0,
    price_cache_write   BIGINT NOT NULL DEFAULT 0,
    price_source        TEXT NOT NULL DEFAULT '',
    max_output_tokens   BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE UNIQUE INDEX ai_models_name ON ai_models (name);

CREATE TABLE ai_model_targets (
    model_id    TEXT NOT NULL REFERENCES ai_models (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    provider_id TEXT NOT NULL REFERENCES ai_providers (id),
    model       TEXT NOT NULL,
    PRIMARY KEY (model_id, seq)
);
CREATE INDEX ai_model_targets_provider ON ai_model_targets (provider_id);

CREATE TABLE ai_access (
    consumer_id TEXT PRIMARY KEY REFERENCES consumers (id),
    models      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE ai_budgets (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    scope         TEXT NOT NULL,
    scope_id      TEXT NOT NULL,
    amount_micros BIGINT NOT NULL DEFAULT 0,
    budget_period TEXT NOT NULL DEFAULT '',
    rpm           BIGINT NOT NULL DEFAULT 0,
    tpm           BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX ai_budgets_scope ON ai_budgets (scope, scope_id, budget_period);
CREATE INDEX ai_budgets_tenant ON ai_budgets (tenant_id, id);

CREATE TABLE ai_prompts (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    template   TEXT NOT NULL,
    variables  TEXT NOT NULL,
    model      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ai_prompts_tenant_name ON ai_prompts (tenant_id, name);
CREATE INDEX ai_prompts_model ON ai_prompts (model);

-- The prompt a route of type "prompt" serves ('' for other types).
ALTER TABLE routes ADD COLUMN prompt_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE routes DROP COLUMN prompt_id;
DROP TABLE ai_prompts;
DROP TABLE ai_budgets;
DROP TABLE ai_access;
DROP TABLE ai_model_targets;
DROP TABLE ai_models;
DROP TABLE ai_providers;
