"""The local product, end to end: the sample store's stand-ins, the Functions host and the runner.

`run_demo` installs the sample shop through Shopify's OAuth flow on the local host (the install
endpoint, the emulator's consent page, the callback, which seals the tokens and starts the first
run), imports its catalogue and competitor list, lets that first run go through the real
orchestrator, and exports what a merchant would see. `serve` keeps the same pieces running for
curl and tests (with the token sealed directly); `run_pipeline_once` runs a shop already installed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from shared.db import runs
from shared.db.pool import close_pool, transaction
from shared.db.recommendations import run_recommendations
from shared.db.shops import get_shop, granted_scopes, record_catalogue_sync, upsert_shop
from shared.local.apideck_standin import ApideckStandIn, items_from_store
from shared.local.competitor_sites import CompetitorSites
from shared.local.sample_store import DEFAULT_PRODUCTS, SampleStore, generate_store
from shared.local.shopify_emulator import ShopifyEmulator
from shared.local.shopify_oauth_standin import ShopifyOAuthStandIn, TokenRequest
from shared.local.shopify_webhook_subscriptions_standin import WebhookSubscriptionsStandIn
from shared.local.trends_standin import TrendsStandIn
from shared.market.competitor_import import import_competitor_csv
from shared.media_store import media_store
from shared.secrets import get_optional_secret, reset_secret_store
from shared.settings import get_settings
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.admin_origin import AdminOriginTransport
from shared.shopify.order_window import ALL_ORDERS_SCOPE, order_history_days
from shared.shopify.sync import sync_shop
from shared.shopify.tokens import get_access_token, token_cipher

REPO_ROOT = Path(__file__).resolve().parents[2]
Progress = Callable[[str], None]
RUN_TIMEOUT_SECONDS = 900
DEMO_ACCOUNTING_CONSUMER = "sample-shop-books"


@dataclass
class StandIns:
    store: SampleStore
    emulator: ShopifyEmulator
    sites: CompetitorSites
    trends: TrendsStandIn
    access_token: str
    apideck: ApideckStandIn | None = None  # the sample's books, when the demo reads costs from accounting


def apply_settings(overrides: dict[str, str]) -> None:
    """Point the app's settings at the stand-ins, as local.settings.json would."""
    os.environ.update(overrides)
    get_settings.cache_clear()
    reset_secret_store()


@contextmanager
def sample_store_stand_ins(n_products: int | None = None, with_accounting: bool = False) -> Iterator[StandIns]:
    """The sample store served by its Shopify emulator, its competitors' sites and Google Trends
    (and, with `with_accounting`, its books through an Apideck stand-in)."""
    store = generate_store(n_products=n_products or DEFAULT_PRODUCTS)
    access_token = "shpat_" + secrets.token_hex(16)  # a fresh token per process, as a real install gives
    with ShopifyEmulator() as emulator, CompetitorSites(store) as sites, TrendsStandIn() as trends, ExitStack() as extra:
        emulator.add_shop(store, access_token)
        overrides = {
            "SHOPIFY_ADMIN_BASE_URL": emulator.admin_base_url_template,
            "TRENDS_BASE_URL": trends.base_url,
            # The competitor sites are this process's own servers on loopback.
            "COMPETITOR_FETCH_ALLOW_PRIVATE_NETWORKS": "true",
            "COMPETITOR_FETCH_INTERVAL_SECONDS": "0.02",
        }
        apideck = None
        if with_accounting:
            apideck = extra.enter_context(ApideckStandIn(api_key="apideck_" + secrets.token_hex(16)))
            apideck.add_consumer(DEMO_ACCOUNTING_CONSUMER, "quickbooks", items_from_store(store))
            overrides |= {"APIDECK_BASE_URL": apideck.base_url, "APIDECK_APP_ID": apideck.app_id,
                          "APIDECK_API_KEY": apideck.api_key}
        apply_settings(overrides)
        yield StandIns(store, emulator, sites, trends, access_token, apideck)


def install_sample_shop(stand_ins: StandIns, progress: Progress) -> None:
    """The sample shop with its token sealed directly (no OAuth), its catalogue and competitors: for
    `serve` and the tests that need an installed shop without a host. The demo uses `install_over_oauth`."""
    store = stand_ins.store
    cipher = token_cipher()
    # A development store, where the app holds read_all_orders: a year of orders to learn from.
    scopes = f"{get_settings().shopify_scopes},{ALL_ORDERS_SCOPE}"
    with transaction() as conn:
        upsert_shop(
            conn, store.domain, name=store.name, currency=store.currency,
            access_token_ciphertext=cipher.seal(stand_ins.access_token, store.domain),
            token_key_id=cipher.current_key_id, scopes=scopes,
        )
    import_catalogue_and_competitors(stand_ins, stand_ins.access_token, progress)


def install_over_oauth(stand_ins: StandIns, host, progress: Progress) -> list[TokenRequest]:
    """Install the sample shop as a merchant does, through the app's own endpoints on `host`.

    A browser (an httpx client with a cookie jar, not following redirects by itself) asks the
    install endpoint, follows its 302 to the shop's consent page (`https://{shop}/...`, which
    SHOPIFY_ADMIN_BASE_URL resolves to the emulator, as a hosts file would), where the stand-in
    approves, and follows the redirect to the callback with its code, hmac and state, carrying
    the state cookie. The callback exchanges the code, seals the tokens, subscribes the webhooks
    and starts the first run. Returns the token endpoint's requests for this shop.
    """
    shop = stand_ins.store.domain
    secret = get_optional_secret("SHOPIFY_CLIENT_SECRET")
    if not secret:  # the local stand-ins only: an app secret for this process
        secret = secrets.token_urlsafe(32)
        apply_settings({"SHOPIFY_CLIENT_SECRET": secret})
    apply_settings({"APP_BASE_URL": host.base_url})
    settings = get_settings()
    oauth = ShopifyOAuthStandIn(
        stand_ins.emulator, client_id=settings.shopify_client_id, client_secret=secret,
        # A development store, where the app holds read_all_orders too: a year of orders to learn from.
        scopes=f"{settings.shopify_scopes},{ALL_ORDERS_SCOPE}",
        redirect_uris=(host.base_url + "/api/auth/shopify/callback",),
    )
    shopify = AdminOriginTransport(settings.shopify_admin_base_url)
    with httpx.Client(mounts={"all://*.myshopify.com": shopify}, follow_redirects=False, timeout=60) as browser:
        install = browser.get(f"{host.base_url}/api/auth/shopify/install", params={"shop": shop})
        consent = _redirected(install, "the install endpoint")
        progress(f"  install: 302 to {consent.split('?')[0]}")
        approved = browser.get(consent)
        callback = _redirected(approved, "Shopify's consent page")
        progress(f"  merchant approved: 302 to {callback.split('?')[0]}")
        done = browser.get(callback)
        landing = _redirected(done, "the callback")
        progress(f"  callback: code exchanged, tokens sealed; 302 to {landing.split('?')[0]}")
    return oauth.requests(shop=shop)


def _redirected(response: httpx.Response, what: str) -> str:
    if response.status_code != 302 or "location" not in response.headers:
        raise RuntimeError(f"{what} answered {response.status_code}: {response.text[:200]}")
    return response.headers["location"]


def import_catalogue_and_competitors(stand_ins: StandIns, access_token: str, progress: Progress) -> None:
    """What importing a competitor list does for the installed sample shop: the catalogue first
    (competitor pages are matched to variants), then the three competitors and their pages."""
    store = stand_ins.store
    with transaction() as conn:
        shop = get_shop(conn, store.domain)
        scopes = granted_scopes(conn, shop.id)
    started = time.perf_counter()

    async def first_sync():
        async with AdminApiClient(store.domain, access_token) as client:
            return await sync_shop(shop.id, store.domain, client, history_days=order_history_days(
                scopes or "", get_settings().shopify_order_history_days))

    summary = asyncio.run(first_sync())
    with transaction() as conn:
        record_catalogue_sync(conn, shop.id, summary.started_at, full=True)
    progress(f"  catalogue imported: {summary.products} products, {summary.variants} variants, "
             f"{summary.order_lines} order lines ({time.perf_counter() - started:.1f} s)")
    # The merchant's competitor list, imported as a merchant would: a CSV of sku,competitor,url.
    with transaction() as conn:
        skus = {r["sku"] for r in conn.execute("SELECT sku FROM variants WHERE shop_id = %s AND sku IS NOT NULL",
                                                (shop.id,))}
    sheet = io.StringIO()
    writer = csv.writer(sheet)
    writer.writerow(["sku", "competitor", "url", "currency"])
    for competitor in stand_ins.sites.competitors:
        for sku, url in sorted(stand_ins.sites.urls_by_sku(competitor.key).items()):
            if sku in skus:
                writer.writerow([sku, competitor.name, url, store.currency])
    imported = import_competitor_csv(store.domain, sheet.getvalue().encode())
    urls = imported.counts.urls_linked
    progress(f"  competitors registered: {len(stand_ins.sites.competitors)} shops, {urls} product pages")
    if stand_ins.apideck is not None:
        from shared.db.accounting import connect_accounting

        with transaction() as conn:
            connect_accounting(conn, shop.id, "quickbooks", DEMO_ACCOUNTING_CONSUMER, books_currency=store.currency)
        progress("  accounting connected: QuickBooks through the Apideck stand-in")


class ProgressPrinter:
    """Prints each activity as it starts and ends, with its duration."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._started: dict[tuple[str, int | None], float] = {}
        self._lock = threading.Lock()

    def __call__(self, event) -> None:
        from shared.local.durable import ProgressKind

        key = (event.instance_id, event.task_id)
        with self._lock:
            if event.kind is ProgressKind.ACTIVITY_STARTED:
                self._started[key] = time.perf_counter()
                attempt = f" (attempt {event.attempt})" if event.attempt and event.attempt > 1 else ""
                self._progress(f"  -> {event.function_name}{attempt}")
            elif event.kind is ProgressKind.ACTIVITY_COMPLETED:
                seconds = time.perf_counter() - self._started.pop(key, time.perf_counter())
                self._progress(f"  <- {event.function_name} ({seconds:.1f} s)")
            elif event.kind is ProgressKind.ACTIVITY_FAILED:
                self._progress(f"  !! {event.function_name} failed: {str(event.detail)[:200]}")


@contextmanager
def local_functions(progress: Progress, port: int = 0, function_key: str | None = None):
    """The app's own functions on the local host, backed by the local Durable runner."""
    import function_app
    from shared.local.durable import LocalDurableRunner
    from shared.local.http_host import LocalFunctionsHost

    key = function_key or secrets.token_urlsafe(24)
    state_dir = get_settings().local_data_dir / "durable"
    runner = LocalDurableRunner(function_app.app, state_dir, on_progress=ProgressPrinter(progress))
    try:
        with LocalFunctionsHost(function_app.app, runner, port=port, host_json=REPO_ROOT / "host.json",
                                function_keys=[key], task_hub=get_settings().taskhub_name) as host:
            yield runner, host, key
    finally:
        runner.close()


def start_run_over_http(host, key: str, shop: str) -> str:
    """POST /api/shops/{shop}/pipeline, as an operator would; returns the instance id."""
    response = httpx.post(f"{host.base_url}/api/shops/{shop}/pipeline", headers={"x-functions-key": key}, timeout=30)
    if response.status_code != 202:
        raise RuntimeError(f"starting the pipeline answered {response.status_code}: {response.text[:200]}")
    return response.json()["id"]


@dataclass
class RunOutcome:
    ok: bool
    reason: str | None
    run_id: str | None = None
    status: str | None = None
    # The demo's install: what the Shopify stand-in's token endpoint answered for the shop.
    token_requests: list[TokenRequest] = field(default_factory=list)

    @property
    def summary_line(self) -> str:
        return f"run {self.run_id}: {self.status}" + (f" ({self.reason})" if self.reason else "")


def interrupted_run(runner, shop: str) -> str | None:
    """A run of this shop that a killed process left unfinished, if any."""
    from shared.local.durable import RuntimeStatus

    unfinished = runner.list_instances(statuses=[RuntimeStatus.Running, RuntimeStatus.Pending])
    mine = [s for s in unfinished if isinstance(s.input, dict) and s.input.get("shop") == shop]
    return max(mine, key=lambda s: s.created_time).instance_id if mine else None


def run_and_wait(runner, host, key: str, shop: str, progress: Progress, resume: bool = False) -> RunOutcome:
    instance_id = interrupted_run(runner, shop) if resume else None
    if instance_id:
        # Durable's promise: finished steps are kept in the history and not done again.
        progress(f"resuming the interrupted run {instance_id}")
        runner.start_in_background(instance_id)
    else:
        instance_id = start_run_over_http(host, key, shop)
        progress(f"pipeline started: {instance_id}")
    return wait_for_run(runner, instance_id)


def wait_for_run(runner, instance_id: str) -> RunOutcome:
    status = runner.wait_for_completion(instance_id, timeout=RUN_TIMEOUT_SECONDS)
    runtime = getattr(status.runtime_status, "value", status.runtime_status)
    if runtime != "Completed":
        reason = status.failure.message if status.failure else f"the run ended {runtime}"
        return RunOutcome(False, reason, instance_id, runtime)
    output = status.output or {}
    problems = "; ".join(output.get("problems", [])) or None
    return RunOutcome(True, problems, instance_id, output.get("status", runtime))


def export_outputs(shop: str, run_id: str, out: Path) -> dict[str, Path]:
    """The four files of the demo: video, page, recommendations and the run report."""
    out.mkdir(parents=True, exist_ok=True)
    store = media_store()
    with transaction() as conn:
        briefing = conn.execute("SELECT video_uri, page_uri FROM briefings WHERE run_id = %s", (run_id,)).fetchone()
        recommendations = run_recommendations(conn, run_id)
        report = runs.run_report(conn, run_id)
    files = {}
    for name, uri in (("briefing.mp4", briefing and briefing["video_uri"]), ("briefing.html", briefing and briefing["page_uri"])):
        if uri:
            store.download_to(uri, out / name)
            files[name] = out / name
    with (out / "recommendations.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "current_price", "cost", "recommended_price", "change_pct", "confidence",
                         "reasons", "explanation", "elasticity", "expected_units_change_28d",
                         "expected_profit_change_28d"])
        blank = lambda value: "" if value is None else value  # noqa: E731
        for r in recommendations:
            writer.writerow([r.sku or "", r.title, r.current_price, blank(r.cost), blank(r.recommended_price),
                             blank(r.change_pct), f"{r.confidence:.2f}",
                             " ".join(str(c) for c in r.reason_codes), r.explanation,
                             "" if r.elasticity is None else f"{r.elasticity:.2f}",
                             blank(r.expected_units_change), blank(r.expected_profit_change)])
    files["recommendations.csv"] = out / "recommendations.csv"
    (out / "run.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    files["run.json"] = out / "run.json"
    return files


def print_step_table(report: dict, progress: Progress) -> None:
    progress(f"{'step':<26}{'status':<10}{'tries':>5}{'seconds':>9}  counts")
    for step in report["steps"]:
        seconds = f"{step['seconds']:.1f}" if step["seconds"] is not None else "-"
        counts = ", ".join(f"{k}={v}" for k, v in list((step["counts"] or {}).items())[:5])
        progress(f"{step['step']:<26}{step['status']:<10}{step['attempts']:>5}{seconds:>9}  {counts}")
    spent = ", ".join(f"{c['service']} {c['amount']:g} {c['unit']}" for c in (report.get("costs") or {}).get("total", []))
    progress(f"external calls: {spent or 'none'}")


def run_demo(out: Path, products: int | None = None, progress: Progress = print,
             cloud_stand_ins: bool = False, with_accounting: bool = False) -> RunOutcome:
    progress("starting the sample store's stand-ins (Shopify, competitor sites, Google Trends"
             + (", Apideck)" if with_accounting else ")"))
    try:
        with sample_store_stand_ins(products, with_accounting=with_accounting) as stand_ins, \
                _briefing_services(cloud_stand_ins, progress):
            shop = stand_ins.store.domain
            subscriptions = WebhookSubscriptionsStandIn(stand_ins.emulator)  # the install subscribes webhooks
            with local_functions(progress) as (runner, host, key):
                # A run a killed demo left unfinished is resumed; the install then starts no other.
                interrupted = interrupted_run(runner, shop)
                progress(f"installing {stand_ins.store.name} ({shop}) through Shopify OAuth")
                # The callback starts the first run; it waits until the competitor list is in.
                with runner.holding_new_instances() as held:
                    token_requests = install_over_oauth(stand_ins, host, progress)
                    progress(f"  webhook subscriptions created: {len(subscriptions.of(shop))}")
                    import_catalogue_and_competitors(stand_ins, get_access_token(shop), progress)
                outcome = replace(_first_run(runner, shop, interrupted, held, progress), token_requests=token_requests)
            if outcome.run_id:
                files = export_outputs(shop, outcome.run_id, out)
                print_step_table(json.loads(files["run.json"].read_text()), progress)
                progress(f"run {outcome.status}; wrote " + ", ".join(str(p) for p in files.values()))
            return outcome
    finally:
        close_pool()


@contextmanager
def _briefing_services(cloud: bool, progress: Progress):
    """With `cloud`, the script, voice and video services on loopback stand-ins; else nothing (offline)."""
    if not cloud:
        yield
        return
    from shared.local.briefing_cloud_standins import cloud_briefing_stand_ins

    with cloud_briefing_stand_ins() as services:
        apply_settings(services.settings)
        progress("briefing services on loopback stand-ins: Azure OpenAI, ElevenLabs, VEED")
        yield


def _first_run(runner, shop: str, interrupted: str | None, held: list[str], progress: Progress) -> RunOutcome:
    if interrupted:
        # Durable's promise: finished steps are kept in the history and not done again.
        progress(f"resuming the interrupted run {interrupted}")
        runner.start_in_background(interrupted)
        return wait_for_run(runner, interrupted)
    started = [i for i in held if i.startswith(f"manual-{shop}-")]
    if not started:
        return RunOutcome(False, "the install started no pipeline run")
    progress(f"pipeline started by the install: {started[0]}")
    return wait_for_run(runner, started[0])


def run_pipeline_once(shop: str, progress: Progress = print) -> RunOutcome:
    try:
        with local_functions(progress) as (runner, host, key):
            return run_and_wait(runner, host, key, shop, progress)
    finally:
        close_pool()


def serve(port: int, with_sample_store: bool, progress: Progress = print) -> int:
    key = get_settings().local_function_key
    key_value = key.get_secret_value() if key else None

    def forever(stand_ins: StandIns | None) -> int:
        with local_functions(progress, port=port, function_key=key_value) as (runner, host, used_key):
            progress(f"Functions host on {host.base_url}/api (function key: "
                     f"{'from LOCAL_FUNCTION_KEY' if key_value else used_key})")
            if stand_ins:
                progress(f"sample shop {stand_ins.store.domain} installed; try: curl -X POST "
                         f"-H 'x-functions-key: <key>' {host.base_url}/api/shops/{stand_ins.store.domain}/pipeline")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                progress("stopping")
        return 0

    try:
        if not with_sample_store:
            return forever(None)
        with sample_store_stand_ins() as stand_ins:
            install_sample_shop(stand_ins, progress)
            return forever(stand_ins)
    finally:
        close_pool()
