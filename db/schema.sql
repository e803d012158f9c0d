-- ASO Render schema for PostgreSQL 13+ (the spec's `psql -f db/schema.sql`).
-- The statements live in db/migrations/, which `aso-render migrate` applies in order and
-- records; this file runs the same ones with psql. Idempotent.
\ir migrations/001_initial.sql
\ir migrations/003_reliability.sql
\ir migrations/005_print_options.sql
\ir migrations/006_asset_owner.sql
\ir migrations/007_render_listing.sql
\ir migrations/008_webhooks.sql
\ir migrations/009_render_change_notify.sql
\ir migrations/010_drop_renders_queue_columns.sql
\ir migrations/011_webhook_delivery_notify.sql
