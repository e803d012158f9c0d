-- Signed webhooks (issue 13): a render may name a URL told of its terminal status, and each
-- such event is a row of the outbox, written by the same statement that ends the render, so a
-- delivery is never lost and survives any process restart. Any API or worker process delivers:
-- it claims due rows with FOR UPDATE SKIP LOCKED under a lease, one attempt at a time.
-- 007 is left for the render listing (branch render-list).
ALTER TABLE renders ADD COLUMN IF NOT EXISTS webhook_url TEXT;

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id UUID PRIMARY KEY,
    render_id UUID NOT NULL REFERENCES renders(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    owner TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_render_idx ON webhook_deliveries (render_id);
