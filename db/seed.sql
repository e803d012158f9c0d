-- Styles and size presets with their permanent ids (the spec's `psql -f db/seed.sql`).
-- Generated from the render engine's catalogue; a test keeps the two identical.

INSERT INTO styles (id, slug, name, description) VALUES
    ('550e8400-e29b-41d4-a716-446655440000', 'watercolor', 'Watercolor', 'Soft washes of transparent colour on textured paper, with pigment pooling at the edges of each wash.'),
    ('550e8400-e29b-41d4-a716-446655440008', 'photo', 'Photo', 'The photo itself, print-ready: colour-managed to sRGB, cropped to the paper, upsampled with Lanczos3 and sharpened for print.')
ON CONFLICT (id) DO UPDATE SET slug = EXCLUDED.slug, name = EXCLUDED.name, description = EXCLUDED.description;

INSERT INTO size_presets (id, name, width_inches, height_inches, dpi, width_px, height_px) VALUES
    ('6ba7b810-9dad-11d1-80b4-00c04fd430c8', '9x12', 9.0, 12.0, 300, 2700, 3600),
    ('6ba7b811-9dad-11d1-80b4-00c04fd430c8', '12x16', 12.0, 16.0, 300, 3600, 4800),
    ('6ba7b812-9dad-11d1-80b4-00c04fd430c8', '16x20', 16.0, 20.0, 300, 4800, 6000),
    ('6ba7b813-9dad-11d1-80b4-00c04fd430c8', '18x24', 18.0, 24.0, 300, 5400, 7200),
    ('6ba7b814-9dad-11d1-80b4-00c04fd430c8', '24x36', 24.0, 36.0, 300, 7200, 10800)
ON CONFLICT (id) DO NOTHING;
