from __future__ import annotations

import base64
import os

import pytest

from shared.shopify.tokens import TokenCipher, TokenDecryptError, TokenKeyError


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_sealed_token_opens_for_its_shop_and_hides_the_plaintext():
    cipher = TokenCipher(f"k1:{key()}")
    sealed = cipher.seal("shpat_secret_value", "a-shop.myshopify.com")
    assert b"shpat_secret_value" not in sealed
    assert cipher.open(sealed, "a-shop.myshopify.com") == "shpat_secret_value"
    assert cipher.key_id_of(sealed) == "k1"


def test_a_token_moved_to_another_shop_does_not_open():
    cipher = TokenCipher(f"k1:{key()}")
    sealed = cipher.seal("shpat_secret_value", "a-shop.myshopify.com")
    with pytest.raises(TokenDecryptError) as error:
        cipher.open(sealed, "b-shop.myshopify.com")
    assert "shpat_secret_value" not in str(error.value)


def test_rotation_new_key_seals_old_key_still_opens():
    old, new = key(), key()
    sealed_with_old = TokenCipher(f"old:{old}").seal("tok", "s.myshopify.com")
    rotated = TokenCipher(f"new:{new},old:{old}")
    assert rotated.open(sealed_with_old, "s.myshopify.com") == "tok"
    assert rotated.key_id_of(rotated.seal("tok", "s.myshopify.com")) == "new"
    with pytest.raises(TokenDecryptError, match="key 'old'"):
        TokenCipher(f"new:{new}").open(sealed_with_old, "s.myshopify.com")


@pytest.mark.parametrize(
    "spec, message",
    [("", "empty"), ("k1:not-base64!!", "not valid base64"), ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
     ("bad id:" + base64.b64encode(os.urandom(32)).decode(), "key id")],
)
def test_bad_keys_are_named_without_their_material(spec, message):
    with pytest.raises(TokenKeyError, match=message) as error:
        TokenCipher(spec)
    secret_part = spec.partition(":")[2]
    if secret_part:
        assert secret_part not in str(error.value)
