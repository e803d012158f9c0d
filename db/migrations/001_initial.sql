-- ASO Render schema for PostgreSQL 13+: tables and indexes.
-- Idempotent: safe to run on an existing database. The embedded SQLite schema
-- (Sources/RenderService/Stores/SQLiteDatabase.swift) has the same tables and columns.

CREATE TABLE IF NOT EXISTS styles (
    id UUID PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS size_presets (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    width_inches NUMERIC(6, 2) NOT NULL,
    height_inches NUMERIC(6, 2) NOT NULL,
    dpi INTEGER NOT NULL,
    width_px INTEGER NOT NULL,
    height_px INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS assets (
    id UUID PRIMARY KEY,
    storage_key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS renders (
    id UUID PRIMARY KEY,
    asset_id UUID NOT NULL REFERENCES assets (id),
    style_id UUID NOT NULL REFERENCES styles (id),
    size_preset_id UUID NOT NULL REFERENCES size_presets (id),
    status TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'canceled')),
    orientation TEXT NOT NULL DEFAULT 'auto',
    fit TEXT NOT NULL DEFAULT 'cover',
    style_params JSONB NOT NULL DEFAULT '{}',
    seed TEXT,
    output_key TEXT,
    preview_key TEXT,
    error_message TEXT,
    effective_dpi DOUBLE PRECISION,
    warnings JSONB NOT NULL DEFAULT '[]',
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    duration_ms BIGINT
);

-- The spec's indexes: renders.id and assets.id are primary keys; status drives the queue views.
-- (It led with available_at until 010 dropped that column: psql re-runs this file on every
-- install, so it names only columns that remain.)
CREATE INDEX IF NOT EXISTS renders_status_idx ON renders (status, created_at);
CREATE INDEX IF NOT EXISTS renders_asset_idx ON renders (asset_id);
