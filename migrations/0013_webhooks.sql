-- Signed webhooks (issue 7 item 5): subscriptions per organization, one delivery per (subscription,
-- event), and every HTTP attempt of a delivery. The worker (Webhooks/WebhookWorker.swift) turns
-- events into deliveries and sends them; any number of instances may run it side by side.

-- A subscription of an organization. `secret` is kept in clear text: the server signs with it (a
-- hash would not do, unlike bearer tokens). During a rotation the previous secret also signs until
-- `previous_secret_expires_at`.
CREATE TABLE webhook_subscriptions (
    id                          uuid PRIMARY KEY DEFAULT uuid_v7(),
    org_id                      uuid NOT NULL REFERENCES organizations (id),
    url                         text NOT NULL,
    event_types                 text[] NOT NULL,
    description                 text,
    status                      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    -- 'manual' (PATCH) or 'failing' (auto-pause, see WebhookRules.shouldPause).
    paused_reason               text CHECK (paused_reason IN ('manual', 'failing')),
    paused_at                   timestamptz,
    secret                      text NOT NULL,
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    -- Failed attempts in a row (any delivery) and when that streak began; reset by a success.
    consecutive_failures        integer NOT NULL DEFAULT 0,
    failing_since               timestamptz,
    -- After a few failures in a row the whole subscription backs off (WebhookRules.backoffUntil):
    -- no delivery of it is claimed before this, so a dead receiver with a backlog is probed, not
    -- hammered, and does not hold up the other subscriptions' deliveries.
    backoff_until               timestamptz,
    -- When a sender last took one of its deliveries: subscriptions take turns (WebhookSender.claim).
    last_claimed_at             timestamptz,
    created_by                  uuid REFERENCES accounts (id),
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    version                     integer NOT NULL DEFAULT 1
);
CREATE INDEX webhook_subscriptions_org ON webhook_subscriptions (org_id, created_at, id);

-- Where each subscription's dispatch stands in the event feed order (the feed's gap-free position,
-- EventFeedRoutes): events after it become deliveries. Starts at the xmin of the creating
-- transaction's snapshot: every event of a transaction that had ended before is older than the
-- subscription; everything later is delivered. A row of its own so that dispatch locks (SKIP
-- LOCKED) never touch the subscription row that PATCH and the sender update.
CREATE TABLE webhook_cursors (
    subscription_id  uuid PRIMARY KEY REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    after_xid        xid8 NOT NULL,
    after_sequence   bigint NOT NULL
);

-- One event for one subscription. `message_id` is the webhook-id header: the same on every attempt
-- and on a redelivery. `locked_until` is the lease of the sender that claimed it: a killed process's
-- claim runs out and another sender takes it over. `current_attempt_id` names the attempt holding
-- the lease, so a sender whose lease was taken over cannot overwrite the newer outcome.
CREATE TABLE webhook_deliveries (
    id                  uuid PRIMARY KEY DEFAULT uuid_v7(),
    subscription_id     uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_sequence      bigint NOT NULL,
    event_type          text NOT NULL,
    message_id          text NOT NULL,
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'retrying', 'delivered', 'dead')),
    attempt_count       integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL,
    deadline_at         timestamptz NOT NULL,
    locked_until        timestamptz,
    current_attempt_id  uuid,
    last_attempt_at     timestamptz,
    last_response_status integer,
    last_error          text,
    delivered_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    version             integer NOT NULL DEFAULT 1,
    UNIQUE (subscription_id, event_sequence)
);
-- The sender's queue: each subscription's due deliveries in order.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (subscription_id, next_attempt_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (subscription_id, created_at, id);

-- Every HTTP attempt. A row is written (committed) before the request goes out, so an attempt
-- interrupted by a crash stays visible (finished_at NULL until the takeover marks it) and its id
-- is never reused: the receiver sees each attempt id at most once.
CREATE TABLE webhook_attempts (
    id               uuid PRIMARY KEY DEFAULT uuid_v7(),
    delivery_id      uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    number           integer NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    response_status  integer,
    response_excerpt text,
    error            text,
    duration_ms      integer,
    UNIQUE (delivery_id, number)
);
