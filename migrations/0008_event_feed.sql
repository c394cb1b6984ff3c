-- The event feed (`GET /v1/events`, issue 7 item 4): events in commit order with no gaps.
--
-- `sequence` is taken when a row is inserted, not when its transaction commits: a reader that has
-- moved past sequence 1000 would miss a slow transaction that took 990 and commits later. So each
-- event also records the id of the transaction that inserted it, and the feed delivers only events
-- whose transaction id is below the xmin of the reader's snapshot (every transaction with a smaller
-- id has ended, so nothing can appear there any more), ordered by (xid, sequence). The cursor is the
-- (xid, sequence) of the last event delivered; a transaction still running has xid >= xmin, so its
-- events come later, after the cursor. xid8 is the 64-bit, epoch-extended id: it never wraps.
--
-- Added nullable without a default, then given the default: a volatile default in ADD COLUMN would
-- rewrite the whole table (millions of events); SET DEFAULT applies to new rows only. Every
-- `INSERT INTO events` leaves xid out, so it gets pg_current_xact_id() (the top-level transaction's
-- id, also from inside a savepoint). Rows from before this migration keep xid NULL and are read as
-- xid 0: they come first, in sequence order (they were all committed long before any reader).
ALTER TABLE events ADD COLUMN xid xid8;
ALTER TABLE events ALTER COLUMN xid SET DEFAULT pg_current_xact_id();

-- The feed order. The feed's SQL uses exactly this expression (EventFeedRoutes), so the planner
-- can walk the index in order from the cursor, or use events_org_ids (GIN) for a small scope.
CREATE INDEX events_feed_order ON events ((COALESCE(xid, '0'::xid8)), sequence);
