-- A webhook delivery written (with its render's terminal status, see 008) is announced on the
-- channel `render_changes` with the payload `webhook`, whichever process wrote it: every API and
-- worker process's deliverer wakes at once instead of polling the outbox. NOTIFY is delivered
-- when the transaction commits, and the same payload sent twice in one transaction goes once.
-- (The body stays on one line: `aso-render migrate` splits statements at semicolons ending a line.)
CREATE OR REPLACE FUNCTION notify_webhook_delivery() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN PERFORM pg_notify('render_changes', 'webhook'); RETURN NULL; END $$;

DROP TRIGGER IF EXISTS webhook_deliveries_notify ON webhook_deliveries;
CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION notify_webhook_delivery();
