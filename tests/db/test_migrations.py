from __future__ import annotations

import psycopg
import pytest

from shared.db.migrate import MigrationError, apply_migrations, discover_migrations
from shared.db.pool import database_url

EXPECTED_TABLES = {
    "shops", "products", "variants", "inventory_levels", "order_lines", "unit_costs", "competitors",
    "competitor_urls", "competitor_prices", "trend_observations", "social_signals", "pipeline_runs",
    "pipeline_steps", "recommendations", "briefings", "webhook_events", "schema_migrations",
}


@pytest.fixture()
def empty_database(local_data_dir):
    """A fresh, empty database on the session's server, dropped afterwards."""
    admin_url = database_url()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS migrations_test")
        admin.execute("CREATE DATABASE migrations_test")
    url = admin_url.replace("/postgres?", "/migrations_test?")
    yield url
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS migrations_test WITH (FORCE)")


def tables(conn) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_migrations_apply_to_an_empty_database_and_twice_is_a_no_op(empty_database):
    with psycopg.connect(empty_database) as conn:
        assert tables(conn) == set()
        first = apply_migrations(conn)
        assert first == [m.version for m in discover_migrations()]
        assert tables(conn) >= EXPECTED_TABLES
        second = apply_migrations(conn)
        assert second == []
        (count,) = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert count == len(first)


def test_an_edited_migration_is_refused(empty_database, tmp_path):
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE t (a int);")
    with psycopg.connect(empty_database) as conn:
        apply_migrations(conn, tmp_path)
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE t (a bigint);")
        with pytest.raises(MigrationError, match="0001_first was changed"):
            apply_migrations(conn, tmp_path)


def test_a_badly_named_migration_is_refused(tmp_path):
    (tmp_path / "first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="first.sql"):
        discover_migrations(tmp_path)


def test_a_failing_migration_leaves_nothing_half_applied(empty_database, tmp_path):
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE a (x int);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE b (x int); SELECT no_such_function();")
    with psycopg.connect(empty_database) as conn:
        with pytest.raises(psycopg.errors.UndefinedFunction):
            apply_migrations(conn, tmp_path)
        conn.rollback()
        assert "a" in tables(conn) and "b" not in tables(conn)
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations").fetchall()]
        assert versions == [1]
