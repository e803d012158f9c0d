-- The queue columns of 001 (attempts, available_at, lease_owner, lease_expires_at) are dropped:
-- production queues on Redis and no release reads or writes them (the embedded queue keeps its
-- bookkeeping in its own table since SQLite's 010_render_jobs). Dropping a column only marks it
-- in the catalogue, so this is quick on any table; the status index, which led with
-- available_at, is rebuilt as the status queries read it (by status, oldest first), as in the
-- embedded schema. Idempotent: safe to run on an existing database.
DROP INDEX IF EXISTS renders_status_idx;
ALTER TABLE renders DROP COLUMN IF EXISTS attempts, DROP COLUMN IF EXISTS available_at, DROP COLUMN IF EXISTS lease_owner,
    DROP COLUMN IF EXISTS lease_expires_at;
CREATE INDEX IF NOT EXISTS renders_status_idx ON renders (status, created_at);
