-- The studio (issue 11): photos uploaded on their own (POST /v1/assets) and rendered later
-- belong to the API key that uploaded them. Idempotent: safe to run on an existing database.
ALTER TABLE assets ADD COLUMN IF NOT EXISTS owner TEXT;
