-- Every change of a render's status is announced on the channel `render_changes` (payload: the
-- render's id), whichever process made it. API replicas and workers LISTEN on it, so a long-poll
-- (`Prefer: wait=N`) and a worker's cancel watch wake at once instead of polling the table.
-- NOTIFY is delivered when the transaction commits, so a listener that wakes reads the change.
-- (The body stays on one line: `aso-render migrate` splits statements at semicolons ending a line.)
CREATE OR REPLACE FUNCTION notify_render_change() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN PERFORM pg_notify('render_changes', NEW.id::text); RETURN NULL; END $$;

DROP TRIGGER IF EXISTS renders_status_notify ON renders;
CREATE TRIGGER renders_status_notify AFTER UPDATE OF status ON renders
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION notify_render_change();
