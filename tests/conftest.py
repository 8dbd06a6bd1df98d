"""Shared fixtures: one embedded PostgreSQL per test session, in a temporary folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from shared.db import pool
from shared.db.pool import transaction
from shared.secrets import reset_secret_store
from shared.settings import get_settings


def _reset_settings() -> None:
    get_settings.cache_clear()
    reset_secret_store()


@pytest.fixture(scope="session")
def local_data_dir(tmp_path_factory) -> Path:
    """A private LOCAL_DATA_DIR: embedded database, Durable state and media for this session."""
    directory = tmp_path_factory.mktemp("local-data")
    previous = {k: os.environ.get(k) for k in ("LOCAL_DATA_DIR", "DATABASE_URL")}
    os.environ["LOCAL_DATA_DIR"] = str(directory)
    os.environ.pop("DATABASE_URL", None)
    pool.close_pool()
    _reset_settings()
    yield directory
    pool.close_pool()
    pool.stop_embedded_database(directory)
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _reset_settings()


@pytest.fixture(scope="session")
def db(local_data_dir):
    """The migrated session database's pool."""
    return pool.get_pool()


@pytest.fixture()
def restore_environment():
    """Stand-ins point settings at themselves through the environment; put it back afterwards."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    _reset_settings()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def spans(monkeypatch):
    """Every span the code makes in the test, as the app would export it (secrets masked)."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from shared import telemetry
    from shared.telemetry_export import build_tracer_provider

    exported = InMemorySpanExporter()
    provider = build_tracer_provider(exported, batch=False)
    monkeypatch.setattr(telemetry.trace, "get_tracer", lambda name, *args, **kwargs: provider.get_tracer(name))
    return exported


@pytest.fixture(scope="module")
def logs():
    """Every log line of the module's tests, at DEBUG: to look for what must never be logged."""
    handler = _Collect()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(previous)


_TEXT_TYPES = ("text", "character varying", "character", "jsonb", "json", "ARRAY", "bytea")


def columns_holding(values: list[str]) -> list[str]:
    """'table.column: value' for every public text-like column that contains one of `values`."""
    found = []
    with transaction() as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = ANY(%s)", (list(_TEXT_TYPES),)).fetchall()
        assert len(columns) > 40  # the whole schema, not an empty database
        for c in columns:
            table, name = c["table_name"], c["column_name"]
            # bytea is searched as bytes (its text form is hex); everything else as text, jsonb included.
            where = f'position(convert_to(%s, \'UTF8\') in "{name}") > 0' if c["data_type"] == "bytea" \
                else f'position(%s in "{name}"::text) > 0'
            for value in values:
                if conn.execute(f'SELECT count(*) AS n FROM "{table}" WHERE {where}', (value,)).fetchone()["n"]:
                    found.append(f"{table}.{name}: {value}")
    return found


@pytest.fixture(scope="session")
def azurite():
    """Azurite's blob service (npm package, installed by `make azurite`) on a free loopback port."""
    from shared.local.azurite import running_azurite

    with running_azurite() as server:
        yield server
