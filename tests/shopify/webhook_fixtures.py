"""Helpers for the webhook tests: a sample shop under its own domain, the local host, a signed sender.

Each test module installs its own shop (its own domain), so what one module's webhooks do,
including a shop/redact, never touches another module's shop.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from shared.db.pool import transaction
from shared.local.competitor_sites import CompetitorSites
from shared.local.demo import StandIns, apply_settings, install_sample_shop, local_functions
from shared.local.sample_store import generate_store
from shared.local.shopify_emulator import ShopifyEmulator
from shared.local.shopify_webhook_sender import ShopifyWebhookSender
from shared.local.trends_standin import TrendsStandIn

SECRET = "whsec-test-" + "c" * 20
PREVIOUS_SECRET = "whsec-old-" + "d" * 20
WEBHOOK_PATH = "/api/webhooks/shopify"


@contextmanager
def shop_stand_ins(domain: str, n_products: int = 6) -> Iterator[StandIns]:
    """The sample store served under `domain` by its own emulator, competitor sites and trends stand-in."""
    store = dataclasses.replace(generate_store(n_products=n_products), domain=domain)
    access_token = "shpat_" + secrets.token_hex(16)
    with ShopifyEmulator() as emulator, CompetitorSites(store) as sites, TrendsStandIn() as trends:
        emulator.add_shop(store, access_token)
        apply_settings({
            "SHOPIFY_ADMIN_BASE_URL": emulator.admin_base_url_template,
            "TRENDS_BASE_URL": trends.base_url,
            "COMPETITOR_FETCH_ALLOW_PRIVATE_NETWORKS": "true",
            "COMPETITOR_FETCH_INTERVAL_SECONDS": "0.02",
        })
        yield StandIns(store, emulator, sites, trends, access_token)


@dataclass
class WebhookWorld:
    stand_ins: StandIns
    runner: object
    host: object
    key: str
    sender: ShopifyWebhookSender

    @property
    def store(self):
        return self.stand_ins.store

    @property
    def url(self) -> str:
        return self.host.base_url + WEBHOOK_PATH

    def wait_processed(self, webhook_id: str, timeout: float = 60) -> dict | None:
        """Wait for the event's own orchestration to finish; its row afterwards (None if it deleted itself)."""
        self.runner.wait_for_completion(f"webhook-{webhook_id}", timeout=timeout)
        return event_row(webhook_id)


@contextmanager
def webhook_world(domain: str, *, n_products: int = 6, install: bool = True) -> Iterator[WebhookWorld]:
    saved = dict(os.environ)
    try:
        with shop_stand_ins(domain, n_products) as stand_ins:
            apply_settings({"SHOPIFY_CLIENT_SECRET": SECRET})
            os.environ.pop("SHOPIFY_CLIENT_SECRET_PREVIOUS", None)
            apply_settings({})
            if install:
                install_sample_shop(stand_ins, progress=lambda line: None)
            with local_functions(lambda line: None) as (runner, host, key):
                with ShopifyWebhookSender(host.base_url + WEBHOOK_PATH, SECRET, max_attempts=1) as sender:
                    yield WebhookWorld(stand_ins, runner, host, key, sender)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        apply_settings({})


def event_row(webhook_id: str) -> dict | None:
    with transaction() as conn:
        return conn.execute("SELECT * FROM webhook_events WHERE webhook_id = %s", (webhook_id,)).fetchone()


def count_rows(table: str, where: str = "TRUE", params: tuple = ()) -> int:
    with transaction() as conn:
        return conn.execute(f'SELECT count(*) AS n FROM "{table}" WHERE {where}', params).fetchone()["n"]


def shop_row(domain: str) -> dict | None:
    with transaction() as conn:
        return conn.execute("SELECT * FROM shops WHERE domain = %s", (domain,)).fetchone()


def wait_until(predicate, timeout: float = 30, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")
