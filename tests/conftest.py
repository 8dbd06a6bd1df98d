"""Shared fixtures: one embedded PostgreSQL per test session, in a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.db import pool
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
