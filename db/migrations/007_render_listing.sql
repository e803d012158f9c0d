-- GET /v1/renders (issue 13): a key's renders newest first, paged by keyset (created_at, id),
-- optionally filtered by status or style. Each filter has an index in the listing's order, so a
-- page reads only its own rows however deep the cursor and however rare the status; the first
-- three serve API keys (scoped to the key), the last three deployments without keys (every
-- render). Combined filters (status and style) use one of them and check the other.
-- Idempotent: safe to run on an existing database. On a large table each CREATE INDEX blocks
-- writes to renders while it builds (about a second per million rows).
CREATE INDEX IF NOT EXISTS renders_owner_list_idx ON renders (owner, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS renders_owner_status_list_idx ON renders (owner, status, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS renders_owner_style_list_idx ON renders (owner, style_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS renders_list_idx ON renders (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS renders_status_list_idx ON renders (status, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS renders_style_list_idx ON renders (style_id, created_at DESC, id DESC);
