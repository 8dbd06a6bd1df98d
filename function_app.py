"""Retail AI Advisor: every trigger of the app on one screen.

The daily timer starts one `daily_pipeline` orchestration per active shop; HTTP triggers
install the app on a shop (Shopify OAuth), take Shopify's webhooks (processed later by
`process_webhook_events`, and swept by a timer), start a run on demand, report on runs and
health, serve the briefing page, import catalogue and competitor CSVs, confirm competitor
matches, and approve, apply and revert prices. Orchestrators and activities live in `orchestrations/` and `activities/`;
everything they use lives in `shared/`.
"""

from datetime import datetime, timezone

import azure.durable_functions as df
import azure.functions as func

import activities
from activities import apply_webhook_events
from orchestrations import daily_pipeline, process_webhook_events, render_video_cloud, sync_catalogue
from shared import durable_history_purge, http_api, scheduling
from shared.market import competitor_import, match_api
from shared.shopify import catalog_import, oauth, price_endpoints, webhook_endpoint, webhook_queue
from shared.telemetry_export import configure_telemetry

# Before any trigger runs: where spans and logs go, and the masking of secrets in all of them.
configure_telemetry()

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(daily_pipeline.bp)
app.register_functions(sync_catalogue.bp)
app.register_functions(render_video_cloud.bp)
for blueprint in activities.BLUEPRINTS:
    app.register_functions(blueprint)
app.register_functions(process_webhook_events.bp)
app.register_functions(apply_webhook_events.bp)


@app.timer_trigger(schedule="%DAILY_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
@app.durable_client_input(client_name="client")
async def daily_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await scheduling.start_daily_runs(client, http_api.active_shops(), datetime.now(timezone.utc))


@app.route(route="shops/{shop}/pipeline", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@app.durable_client_input(client_name="client")
async def start_pipeline(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    shop = http_api.known_shop(req.route_params.get("shop", ""))
    if isinstance(shop, func.HttpResponse):
        return shop
    instance_id = await scheduling.start_manual_run(client, shop, datetime.now(timezone.utc))
    return client.create_check_status_response(req, instance_id)


@app.route(route="shops/{shop}/runs/latest", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def latest_run(req: func.HttpRequest) -> func.HttpResponse:
    return http_api.latest_run(req.route_params.get("shop", ""))


@app.route(route="shops/{shop}/briefings/latest", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def latest_briefing(req: func.HttpRequest) -> func.HttpResponse:
    # A merchant's browser has no function key: the page asks for a signed, expiring link instead.
    return http_api.briefing_page(req.route_params.get("shop", ""), req.params.get("expires"), req.params.get("sig"))


@app.route(route="shops/{shop}/briefings/{run_id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def briefing_of_run(req: func.HttpRequest) -> func.HttpResponse:
    return http_api.briefing_page(req.route_params.get("shop", ""), req.params.get("expires"), req.params.get("sig"),
                                  run_id=req.route_params.get("run_id", ""))


@app.route(route="shops/{shop}/briefings/{run_id}/media/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def briefing_media(req: func.HttpRequest) -> func.HttpResponse:
    # The page's video and narration under the page's signed link (a redirect to a SAS link on Blob Storage).
    p = req.route_params
    return http_api.briefing_media(p.get("shop", ""), p.get("run_id", ""), p.get("name", ""),
                                   req.params.get("expires"), req.params.get("sig"))


@app.route(route="shops/{shop}/briefings/link", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def briefing_link(req: func.HttpRequest) -> func.HttpResponse:
    return http_api.briefing_link(req.route_params.get("shop", ""))


@app.route(route="shops/{shop}/catalog", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def import_catalog(req: func.HttpRequest) -> func.HttpResponse:
    return catalog_import.http_import(req.route_params.get("shop", ""), req.get_body())


@app.route(route="shops/{shop}/competitors", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def import_competitors(req: func.HttpRequest) -> func.HttpResponse:
    return competitor_import.http_import(req.route_params.get("shop", ""), req.get_body())


@app.route(route="shops/{shop}/competitor-matches", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def competitor_matches(req: func.HttpRequest) -> func.HttpResponse:
    return match_api.http_list(req.route_params.get("shop", ""), req.params.get("status"))


@app.route(route="shops/{shop}/competitor-matches/{match_id}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def decide_competitor_match(req: func.HttpRequest) -> func.HttpResponse:
    return match_api.http_decide(req.route_params.get("shop", ""), req.route_params.get("match_id", ""), req.get_body())


@app.route(route="shops/{shop}/recommendations/approve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def approve_recommendations(req: func.HttpRequest) -> func.HttpResponse:
    return price_endpoints.approve(req, req.route_params.get("shop", ""))


@app.route(route="shops/{shop}/recommendations/apply", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def apply_recommendations(req: func.HttpRequest) -> func.HttpResponse:
    # Suggest-only unless PRICING_APPLY_APPROVED is on; answers 409 then.
    return await price_endpoints.apply(req, req.route_params.get("shop", ""))


@app.route(route="shops/{shop}/prices/revert", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def revert_prices(req: func.HttpRequest) -> func.HttpResponse:
    return await price_endpoints.revert(req, req.route_params.get("shop", ""))


@app.route(route="shops/{shop}/prices/changes", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def price_change_log(req: func.HttpRequest) -> func.HttpResponse:
    return price_endpoints.changes(req.route_params.get("shop", ""))


@app.route(route="auth/shopify/install", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def shopify_install(req: func.HttpRequest) -> func.HttpResponse:
    return oauth.install(req)


@app.route(route="auth/shopify/callback", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@app.durable_client_input(client_name="client")
async def shopify_callback(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await oauth.callback(req, client)


@app.route(route="webhooks/shopify", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.durable_client_input(client_name="client")
async def shopify_webhook(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return await webhook_endpoint.receive(req, client)


@app.timer_trigger(schedule="%WEBHOOK_SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
@app.durable_client_input(client_name="client")
async def webhook_sweep(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await webhook_queue.start_sweep(client, datetime.now(timezone.utc))
    # shop/redact queues its runs' Durable histories; purging them needs this client.
    await durable_history_purge.purge_queued_histories(client)


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return http_api.health()
