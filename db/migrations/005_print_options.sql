-- Print options for labs (issue 15): bleed, crop marks, output profile, rendering intent and
-- custom sizes. Idempotent: safe to run on an existing database.

-- A render at a custom size (width_inches/height_inches or width_mm/height_mm in
-- print_options) has no size preset.
ALTER TABLE renders ALTER COLUMN size_preset_id DROP NOT NULL;
-- The render's print options as a JSON object (bleed_inches, crop_marks, output_profile,
-- rendering_intent, and the custom size); '{}' is the spec's print: sRGB, exact size, no bleed.
ALTER TABLE renders ADD COLUMN IF NOT EXISTS print_options JSONB NOT NULL DEFAULT '{}';
