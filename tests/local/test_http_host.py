"""LocalFunctionsHost against a toy app: routing, keys, request/response, and the Durable client binding."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import azure.durable_functions as df
import azure.functions as func
import pytest

from shared.local.durable import LocalDurableRunner, RuntimeStatus
from shared.local.http_host import LocalFunctionsHost, RouteTemplate

FUNCTION_KEY = "function-key-1"
MASTER_KEY = "master-key"

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="shops/{shop}/products/{product_id:int}", methods=["GET", "PUT"], auth_level=func.AuthLevel.ANONYMOUS)
def product(req: func.HttpRequest) -> func.HttpResponse:
    payload = {
        "method": req.method,
        "url": req.url,
        "route": dict(req.route_params),
        "params": dict(req.params),
        "header": req.headers.get("x-trace"),
        "body": req.get_body().decode() or None,
    }
    return func.HttpResponse(json.dumps(payload), status_code=200, mimetype="application/json", headers={"X-Echo": "1"})


@app.route(route="shops/{shop}/products/featured", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def featured(req: func.HttpRequest) -> str:
    return f"featured in {req.route_params['shop']}"


@app.route(route="reports/{day?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def reports(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("day", "latest"))


@app.route(route="secret", methods=["GET"])  # FUNCTION level, the app default
def secret(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("classified", status_code=200)


@app.route(route="admin/reset", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def admin_reset(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=204)


@app.route(route="runs/{orchestrator}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["orchestrator"], None, req.get_json())
    return client.create_check_status_response(req, instance_id)


@app.route(route="runs/{instance_id}/peek", methods=["GET"])
@app.durable_client_input(client_name="client")
async def peek(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(req.route_params["instance_id"], show_history=True)
    if not status:
        return func.HttpResponse("unknown run", status_code=404)
    events = [e["EventType"] for e in getattr(status, "historyEvents", [])]
    body = {"status": status.runtime_status.value, "output": status.output, "events": events}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


NIGHTLY_ID = "nightly-run"


@app.timer_trigger(schedule="0 0 2 * * *", arg_name="timer", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def nightly(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> str | None:
    assert timer.past_due is False
    existing = await client.get_status(NIGHTLY_ID)
    if existing and existing.runtime_status not in (
        df.OrchestrationRuntimeStatus.Completed,
        df.OrchestrationRuntimeStatus.Failed,
        df.OrchestrationRuntimeStatus.Terminated,
    ):
        return None
    return await client.start_new("greetings", instance_id=NIGHTLY_ID, client_input=["night shift"])


@app.orchestration_trigger(context_name="context")
def greetings(context: df.DurableOrchestrationContext):
    names = context.get_input()
    context.set_custom_status("greeting")
    return (yield context.task_all([context.call_activity("greet", n) for n in names]))


@app.activity_trigger(input_name="name")
def greet(name: str) -> str:
    return f"Hello {name}"


@pytest.fixture
def host(tmp_path):
    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": "v1"}}}))
    with (
        LocalDurableRunner(app, tmp_path / "durable") as runner,
        LocalFunctionsHost(
            app, runner, host_json=host_json, function_keys=[FUNCTION_KEY], master_key=MASTER_KEY
        ) as served,
    ):
        yield served


def call(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_route_parameters_request_fields_and_response(host):
    status, headers, body = call(
        "PUT",
        host.base_url + "/v1/shops/acme/products/42?color=red&empty=",
        body=b'{"price": 3}',
        headers={"X-Trace": "abc", "Content-Type": "application/json"},
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert headers["X-Echo"] == "1"
    echoed = json.loads(body)
    assert echoed["method"] == "PUT"
    assert echoed["url"] == host.base_url + "/v1/shops/acme/products/42?color=red&empty="
    assert echoed["route"] == {"shop": "acme", "product_id": "42"}
    assert echoed["params"] == {"color": "red", "empty": ""}
    assert echoed["header"] == "abc"
    assert echoed["body"] == '{"price": 3}'


def test_literal_segment_beats_parameter_and_optional_segments(host):
    assert call("GET", host.base_url + "/v1/shops/acme/products/featured")[2] == b"featured in acme"
    assert call("GET", host.base_url + "/v1/reports")[2] == b"latest"
    assert call("GET", host.base_url + "/v1/reports/2026-01-02")[2] == b"2026-01-02"
    assert host.url_for("product", shop="acme", product_id=7) == host.base_url + "/v1/shops/acme/products/7"


def test_unknown_paths_constraints_and_methods(host):
    assert call("GET", host.base_url + "/v1/shops/acme/products/not-a-number")[0] == 404
    assert call("GET", host.base_url + "/api/reports")[0] == 404  # host.json changed the prefix
    status, headers, _ = call("DELETE", host.base_url + "/v1/shops/acme/products/42")
    assert status == 405
    assert headers["Allow"] == "GET, PUT"


def test_function_and_admin_keys(host):
    url = host.base_url + "/v1/secret"
    assert call("GET", url)[0] == 401
    assert call("GET", url, headers={"x-functions-key": "wrong"})[0] == 401
    assert call("GET", url, headers={"x-functions-key": FUNCTION_KEY})[2] == b"classified"
    assert call("GET", url + "?code=" + FUNCTION_KEY)[0] == 200
    assert call("GET", url + "?code=" + MASTER_KEY)[0] == 200
    admin = host.base_url + "/v1/admin/reset"
    assert call("POST", admin, headers={"x-functions-key": FUNCTION_KEY})[0] == 401
    assert call("POST", admin, headers={"x-functions-key": MASTER_KEY})[0] == 204


def test_starter_returns_check_status_response_that_can_be_polled(host):
    status, headers, body = call(
        "POST", host.base_url + "/v1/runs/greetings", body=b'["Ana", "Bo"]', headers={"x-functions-key": FUNCTION_KEY}
    )
    assert status == 202
    links = json.loads(body)
    assert headers["Location"] == links["statusQueryGetUri"]
    assert links["statusQueryGetUri"].startswith(host.base_url + "/runtime/webhooks/durabletask/instances/")
    instance_id = links["id"]

    status, _, body = call("GET", links["statusQueryGetUri"])
    while status == 202:  # poll like a client would, letting the run finish between polls
        assert json.loads(body)["runtimeStatus"] in ("Pending", "Running")
        host.runner.wait_for_completion(instance_id, timeout=30)
        status, _, body = call("GET", links["statusQueryGetUri"])
    assert status == 200
    final = json.loads(body)
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == ["Hello Ana", "Hello Bo"]
    assert final["input"] == ["Ana", "Bo"]
    assert final["customStatus"] == "greeting"

    peek = json.loads(call("GET", f"{host.base_url}/v1/runs/{instance_id}/peek?code={FUNCTION_KEY}")[2])
    assert peek["status"] == "Completed"
    assert peek["events"] == ["ExecutionStarted", "TaskCompleted", "TaskCompleted", "ExecutionCompleted"]
    assert call("GET", f"{host.base_url}/v1/runs/missing/peek?code={FUNCTION_KEY}")[0] == 404


def test_status_webhook_needs_a_key_and_supports_purge(host):
    instance_id = host.runner.start_new("greetings", "to-purge", ["x"])
    host.runner.run(instance_id)
    links = json.loads(host.durable_client_binding())["managementUrls"]
    status_url = links["statusQueryGetUri"].replace("INSTANCEID", instance_id)
    assert call("GET", status_url.split("?")[0])[0] == 401
    assert call("DELETE", links["purgeHistoryDeleteUri"].replace("INSTANCEID", instance_id))[0] == 200
    assert call("GET", status_url)[0] == 404
    assert host.runner.get_status(instance_id) is None


def test_terminate_through_the_management_url(host):
    host.runner.start_new("greetings", "pending-run", ["x"])  # Pending: nobody drives it
    links = json.loads(host.durable_client_binding())["managementUrls"]
    terminate = links["terminatePostUri"].replace("INSTANCEID", "pending-run").replace("{text}", "stop")
    assert call("POST", terminate)[0] == 202
    assert call("POST", terminate)[0] == 410
    status = host.runner.get_status("pending-run")
    assert status.runtime_status is RuntimeStatus.Terminated and status.output == "stop"


def test_invoke_timer_starts_the_singleton_orchestration(host):
    assert host.invoke_timer("nightly") == NIGHTLY_ID
    status = host.runner.wait_for_completion(NIGHTLY_ID, timeout=30)
    assert status.runtime_status is RuntimeStatus.Completed
    assert status.output == ["Hello night shift"]
    assert host.invoke_timer("nightly") == NIGHTLY_ID  # a finished singleton may run again


def test_route_template_syntax():
    template = RouteTemplate("files/{kind:alpha}/{id:int:min(10)}/{*rest}")
    assert template.match("/files/img/12/a/b.png") == {"kind": "img", "id": "12", "rest": "a/b.png"}
    assert template.match("files/img/12") == {"kind": "img", "id": "12"}
    assert template.match("files/img/9/x") is None
    assert template.match("files/7z/12/x") is None
    assert RouteTemplate("v/{code:regex(^[A-Z]{{3}}$)}").match("v/EUR") is not None
    assert RouteTemplate("v/{code:regex(^[A-Z]{{3}}$)}").match("v/EURO") is None
    assert RouteTemplate("page/{n=1}").match("page") == {"n": "1"}
    assert (
        RouteTemplate("a/b").precedence()
        < RouteTemplate("a/{x:int}").precedence()
        < RouteTemplate("a/{x}").precedence()
    )
    with pytest.raises(ValueError):
        RouteTemplate("x/{id:nonsense}")
