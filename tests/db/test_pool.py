from __future__ import annotations

import psycopg
import pytest

from shared.db.pool import connection_kwargs, database_url
from shared.settings import get_settings


def prepared_after_repeats(kwargs: dict) -> int:
    with psycopg.connect(database_url(), **kwargs) as conn:
        for _ in range(8):  # psycopg prepares a statement from its 5th execution by default
            conn.execute("SELECT %s::int + 1", (1,))
        return conn.execute("SELECT count(*) AS n FROM pg_prepared_statements").fetchone()["n"]


@pytest.mark.parametrize("pooler, prepared", [("false", True), ("true", False)])
def test_behind_a_transaction_pooler_nothing_is_prepared(local_data_dir, monkeypatch, pooler, prepared):
    monkeypatch.setenv("DATABASE_TRANSACTION_POOLER", pooler)
    get_settings.cache_clear()
    try:
        assert (prepared_after_repeats(connection_kwargs()) > 0) is prepared
    finally:
        monkeypatch.delenv("DATABASE_TRANSACTION_POOLER")
        get_settings.cache_clear()
