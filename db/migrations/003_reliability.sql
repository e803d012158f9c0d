-- Access control, idempotent creation and retention (additions to the spec's schema).
-- Idempotent: safe to run on an existing database.

-- The API key that created a render (a non-secret id derived from the key's hash); NULL when
-- API keys are off. Other keys see such renders as not found.
ALTER TABLE renders ADD COLUMN IF NOT EXISTS owner TEXT;
-- When the retention sweep deleted the render's TIFF and preview.
ALTER TABLE renders ADD COLUMN IF NOT EXISTS outputs_deleted_at TIMESTAMPTZ;
-- When the retention sweep deleted the uploaded original.
ALTER TABLE assets ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ;

-- `Idempotency-Key` of POST /v1/renders, per API key, for 24 hours.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    -- Deferred: the key is claimed first in the transaction that then inserts the render.
    render_id UUID NOT NULL REFERENCES renders (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (owner, key)
);

CREATE INDEX IF NOT EXISTS idempotency_keys_created_idx ON idempotency_keys (created_at);
CREATE INDEX IF NOT EXISTS renders_outputs_retention_idx ON renders (completed_at) WHERE outputs_deleted_at IS NULL AND output_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS assets_retention_idx ON assets (created_at) WHERE deleted_at IS NULL;
