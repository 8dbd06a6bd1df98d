"""Rotating the token encryption key without downtime: new key first, re-seal, drop the old key."""

from __future__ import annotations

import base64
import os

import pytest

from shared.db.pool import transaction
from shared.db.shops import upsert_shop
from shared.shopify.token_reseal import reseal_all_tokens
from shared.shopify.tokens import TokenCipher, TokenDecryptError


def key(key_id: str) -> str:
    return f"{key_id}:" + base64.b64encode(os.urandom(32)).decode()


def test_reseal_moves_every_token_to_the_new_key_and_a_second_run_does_nothing(db):
    old, new = key("old1"), key("new1")
    before = TokenCipher(old)
    shops = {f"reseal-{i}.myshopify.com": f"shpat_{i:032x}" for i in range(3)}
    with transaction() as conn:
        for domain, token in shops.items():
            upsert_shop(conn, domain, name=None, currency="GBP", access_token_ciphertext=before.seal(token, domain),
                        token_key_id=before.current_key_id, scopes="read_products")
        conn.execute("UPDATE shops SET refresh_token_ciphertext = %s WHERE domain = %s",
                     (before.seal("shprt_refresh", "reseal-0.myshopify.com"), "reseal-0.myshopify.com"))

    rotating = TokenCipher(f"{new},{old}")  # the new key seals, the old one still opens
    first = reseal_all_tokens(rotating)
    assert first.resealed >= 3
    assert "old1" not in first.key_ids_left and first.key_ids_left.get("new1", 0) >= 3

    only_new = TokenCipher(new)  # the old key can now be dropped
    with transaction() as conn:
        rows = {r["domain"]: r for r in conn.execute(
            "SELECT * FROM shops WHERE domain = ANY(%s)", (list(shops),)).fetchall()}
    for domain, token in shops.items():
        assert rows[domain]["token_key_id"] == "new1"
        assert only_new.open(rows[domain]["access_token_ciphertext"], domain) == token
        with pytest.raises(TokenDecryptError):
            before.open(rows[domain]["access_token_ciphertext"], domain)
    assert only_new.open(rows["reseal-0.myshopify.com"]["refresh_token_ciphertext"],
                         "reseal-0.myshopify.com") == "shprt_refresh"

    second = reseal_all_tokens(rotating)
    assert second.resealed == 0 and second.already_current >= 3
    assert second.unreadable == first.unreadable  # other tests' shops sealed under keys not given here
    assert not set(shops) & set(first.unreadable)
