"""Reading a secret from Key Vault is an external call like any other: one span per read, with the
secret's name and never its value, and one billed operation in the step's ledger."""

from __future__ import annotations


from shared import telemetry
from test_key_vault_secrets import CLIENT_SECRET, credential, key_vault_store, vault  # noqa: F401 - fixtures


def test_one_span_per_read_named_by_the_secret_and_never_carrying_it(vault, credential, spans):  # noqa: F811
    vault.set_secret("SHOPIFY-CLIENT-SECRET", CLIENT_SECRET)
    store = key_vault_store(vault, credential)
    with telemetry.cost_ledger() as ledger:
        assert store.get("SHOPIFY_CLIENT_SECRET") == CLIENT_SECRET
        assert store.get("SHOPIFY_CLIENT_SECRET") == CLIENT_SECRET  # cached: no second call
        assert store.get_optional("SHOPIFY_CLIENT_SECRET_PREVIOUS") is None
    made = spans.get_finished_spans()
    assert [(s.name, s.attributes["secret"], s.attributes["key_vault.found"]) for s in made] == [
        ("key_vault get_secret", "SHOPIFY-CLIENT-SECRET", True),
        ("key_vault get_secret", "SHOPIFY-CLIENT-SECRET-PREVIOUS", False),
    ]
    assert all(s.attributes["external.outcome"] == "ok" for s in made)
    assert ledger.as_rows() == [{"service": "key_vault", "unit": "operations", "amount": 2.0}]
    assert not any(CLIENT_SECRET in str(v) for s in made for v in s.attributes.values())
