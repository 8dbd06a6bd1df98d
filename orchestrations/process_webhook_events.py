"""process_webhook_events: process one stored webhook (input {"webhook_id"}) or sweep every waiting one ({"sweep": true}).

Started by the webhook endpoint (one instance per delivery, id `webhook-<webhook id>`) and by
the `webhook_sweep` timer; see `shared.shopify.webhook_queue` for why both. The input and the
output are ids and counts: payloads never enter Durable's history.
"""

from __future__ import annotations

import azure.durable_functions as df

bp = df.Blueprint()

# Only a database that cannot be reached makes the activity raise; a failing event is recorded
# on its row and retried by the sweep, not here.
RETRY = df.RetryOptions(5_000, 4)


@bp.orchestration_trigger(context_name="context")
def process_webhook_events(context: df.DurableOrchestrationContext):
    params = context.get_input() or {}
    return (yield context.call_activity_with_retry("apply_webhook_events", RETRY, params))
