"""Retail AI Advisor: every trigger of the app on one screen.

The daily timer starts one `daily_pipeline` orchestration per active shop; HTTP triggers
start a run on demand and report on runs and health. Orchestrators and activities live in
`orchestrations/` and `activities/`; everything they use lives in `shared/`.
"""

from datetime import datetime, timezone

import azure.durable_functions as df
import azure.functions as func

import activities
from orchestrations import daily_pipeline
from shared import http_api, scheduling

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(daily_pipeline.bp)
for blueprint in activities.BLUEPRINTS:
    app.register_functions(blueprint)


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


@app.route(route="shops/{shop}/briefings/latest", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def latest_briefing(req: func.HttpRequest) -> func.HttpResponse:
    return http_api.briefing_page(req.route_params.get("shop", ""), run_id=None)


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return http_api.health()
