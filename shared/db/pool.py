"""The connection pool: `DATABASE_URL` when set, otherwise an embedded PostgreSQL.

The embedded server comes from the `pgserver` wheel, keeps its data in a git-ignored folder
under LOCAL_DATA_DIR, starts on first use and is left running so the next command reuses it.
Migrations are applied once per process before the pool is handed out.
"""

from __future__ import annotations

import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from shared.secrets import get_optional_secret
from shared.settings import get_settings


class DatabaseUnavailableError(RuntimeError):
    """The database could not be reached. Retryable: it is usually a blip."""

    retryable = True


_pool: ConnectionPool | None = None
_pool_lock = threading.Lock()


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in `data_dir/pgdata` and return its URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); pgserver copes.
        warnings.simplefilter("ignore")
        try:
            import pgserver
        except ImportError as exc:  # pragma: no cover - only without the dev requirements
            raise DatabaseUnavailableError(
                "DATABASE_URL is not set and the embedded PostgreSQL (pgserver) is not installed"
            ) from exc
        for attempt in range(1, 4):
            try:
                # cleanup_mode=None leaves the server running after this process exits, for the next command.
                server = pgserver.get_server(data_dir.resolve() / "pgdata", cleanup_mode=None)
                break
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError) as exc:
                # A first start on a busy machine can outlast pgserver's own 10 s wait.
                if attempt == 3:
                    raise DatabaseUnavailableError(f"the embedded PostgreSQL did not start: {exc}") from exc
                time.sleep(2 * attempt)
    return server.get_uri()


def database_url() -> str:
    url = get_optional_secret("DATABASE_URL")
    return url or embedded_database_url(get_settings().local_data_dir)


def connection_kwargs() -> dict:
    kwargs: dict = {"row_factory": dict_row, "autocommit": False}
    if get_settings().database_transaction_pooler:
        # A transaction-mode pooler hands each transaction a different server connection,
        # where a statement prepared on another one does not exist.
        kwargs["prepare_threshold"] = None
    return kwargs


def get_pool() -> ConnectionPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            from shared.db.migrate import apply_migrations

            url = database_url()
            with psycopg.connect(url, **connection_kwargs()) as conn:
                apply_migrations(conn)
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=get_settings().database_pool_max_size,
                kwargs=connection_kwargs(),
                open=False,
                name="retail-ai-advisor",
            )
            try:
                pool.open(wait=True, timeout=30)
            except psycopg.OperationalError as exc:
                raise DatabaseUnavailableError(f"cannot reach the database: {type(exc).__name__}") from None
            _pool = pool
        return _pool


@contextmanager
def transaction() -> Iterator[psycopg.Connection]:
    """A connection in one transaction: committed on success, rolled back on any error."""
    with get_pool().connection() as conn:
        with conn.transaction():
            yield conn


def close_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None


def stop_embedded_database(data_dir: Path) -> bool:
    """Stop the embedded PostgreSQL under `data_dir`, if it runs. Returns whether it did."""
    import os
    import signal
    import subprocess
    import time

    pgdata = data_dir.resolve() / "pgdata"
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver._commands import pg_ctl

        try:
            server = pgserver.get_server(pgdata, cleanup_mode=None)
            pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=server.system_user)
            return True
        except subprocess.CalledProcessError:
            pass
    # pg_ctl refuses when another process started the server under another user: signal it directly.
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    except (OSError, ValueError, IndexError):
        return False
    for _ in range(100):
        if not pid_file.exists():
            break
        time.sleep(0.1)
    return True
