"""`python -m shared.cli`: the demo, the local host, one-off runs and database chores."""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import time
from pathlib import Path

from shared.settings import get_settings, load_local_settings_file

REPO_ROOT = Path(__file__).resolve().parent.parent


def _peak_memory_mib() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest child (ffmpeg), in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def cmd_migrate(args: argparse.Namespace) -> int:
    from shared.db.migrate import apply_migrations
    from shared.db.pool import connection_kwargs, database_url

    import psycopg

    with psycopg.connect(database_url(), **connection_kwargs()) as conn:
        applied = apply_migrations(conn)
    print(f"migrations applied: {applied or 'none (up to date)'}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from shared.local.demo import run_demo

    started = time.perf_counter()
    try:
        result = run_demo(Path(args.out), products=args.products, progress=print, with_accounting=args.with_accounting)
    except KeyboardInterrupt:
        print("demo interrupted; run it again to start a fresh run (the data already written is kept, once)")
        return 130
    own, child = _peak_memory_mib()
    print(f"wall time {time.perf_counter() - started:.1f} s; peak memory {own:.0f} MiB (largest child process {child:.0f} MiB)")
    if not result.ok:
        print(f"demo failed: {result.reason}", file=sys.stderr)
        return 1
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from shared.local.demo import serve

    return serve(port=args.port, with_sample_store=not args.no_sample_store, progress=print)


def cmd_run_pipeline(args: argparse.Namespace) -> int:
    from shared.local.demo import run_pipeline_once

    result = run_pipeline_once(args.shop, progress=print)
    print(result.summary_line)
    return 0 if result.ok else 1


def cmd_import_catalog(args: argparse.Namespace) -> int:
    from shared.db.pool import close_pool
    from shared.shopify.catalog_csv import CatalogCsvError
    from shared.shopify.catalog_import import ShopNotInstalledError, import_catalog_csv

    try:
        result = import_catalog_csv(args.shop, Path(args.file).read_bytes())
    except CatalogCsvError as exc:
        print(f"{args.file}: not imported, nothing was changed ({len(exc.problems)} problems):", file=sys.stderr)
        for p in exc.problems:
            print(f"  row {p.row}" + (f", column {p.column}" if p.column else "") + f": {p.reason}", file=sys.stderr)
        return 1
    except (ShopNotInstalledError, ValueError, OSError) as exc:
        print(f"{args.file}: not imported: {exc}", file=sys.stderr)
        return 1
    finally:
        close_pool()
    counts = ", ".join(f"{k}={v}" for k, v in result.counts.model_dump().items())
    print(f"{args.file}: imported as {result.format.value} CSV for {result.shop}: {counts}")
    return 0


def cmd_connect_accounting(args: argparse.Namespace) -> int:
    from shared.db.accounting import connect_accounting, disconnect_accounting
    from shared.db.pool import close_pool, transaction
    from shared.db.shops import get_shop

    try:
        with transaction() as conn:
            shop = get_shop(conn, args.shop)
            if shop is None:
                print(f"shop {args.shop} is not installed", file=sys.stderr)
                return 1
            if args.disconnect:
                gone = disconnect_accounting(conn, shop.id)
                print(f"{shop.domain}: accounting connection {'removed' if gone else 'was not set'}; "
                      "Shopify and CSV costs count again")
                return 0
            if not args.service or not args.consumer_id:
                print("--service and --consumer-id are required (or --disconnect)", file=sys.stderr)
                return 2
            connection = connect_accounting(conn, shop.id, args.service, args.consumer_id,
                                            books_currency=args.books_currency or shop.currency)
    except ValueError as exc:
        print(f"not connected: {exc}", file=sys.stderr)
        return 1
    finally:
        close_pool()
    print(f"{shop.domain}: costs will be read from {connection.service_id} (Apideck consumer {connection.consumer_id}, "
          f"books in {connection.books_currency}) at the next update_costs")
    return 0


def cmd_accounting_report(args: argparse.Namespace) -> int:
    import json

    from shared.db.accounting import accounting_report
    from shared.db.pool import close_pool, transaction
    from shared.db.shops import get_shop

    try:
        with transaction() as conn:
            shop = get_shop(conn, args.shop)
            report = accounting_report(conn, shop.id) if shop else None
    finally:
        close_pool()
    if shop is None:
        print(f"shop {args.shop} is not installed", file=sys.stderr)
        return 1
    if report is None:
        print(f"{shop.domain}: no accounting system connected (costs come from Shopify, then CSV)")
        return 0
    print(json.dumps(report, indent=2, default=str))
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from shared.db import price_changes
    from shared.db.pool import close_pool, transaction
    from shared.db.shops import get_shop

    try:
        with transaction() as conn:
            shop = get_shop(conn, args.shop)
            if shop is None:
                print(f"shop {args.shop} is not installed", file=sys.stderr)
                return 1
            run_id = price_changes.run_of_shop(conn, shop.id, args.run)
            result = price_changes.decide(conn, shop.id, run_id, "rejected" if args.reject else "approved", args.by,
                                          skus=args.sku or (), everything=args.all)
    except price_changes.PriceChangeError as exc:
        print(f"nothing decided: {exc}", file=sys.stderr)
        return 1
    finally:
        close_pool()
    print(f"{shop.domain}: {result.decided} recommendation(s) of run {result.run_id} {result.decision}")
    if result.not_found:
        print(f"no price change in that run for: {', '.join(result.not_found)}", file=sys.stderr)
        return 1 if not result.decided else 0
    return 0


def _price_batch(args: argparse.Namespace, action: str) -> int:
    import asyncio

    from shared.db.pool import close_pool
    from shared.db.price_changes import PriceChangeError
    from shared.shopify.admin_api import AdminApiClient, ShopifyError
    from shared.shopify.price_apply import apply_approved, revert_last
    from shared.shopify.tokens import ShopNotAuthorizedError, get_access_token

    work = apply_approved if action == "apply" else revert_last

    async def run():
        async with AdminApiClient(args.shop, get_access_token(args.shop)) as client:
            return await work(args.shop, client, run_id=args.run, applied_by=args.by, how="cli")

    try:
        report = asyncio.run(run())
    except (PriceChangeError, ShopNotAuthorizedError, ShopifyError, ValueError) as exc:
        print(f"{action}: {exc}", file=sys.stderr)
        return 1
    finally:
        close_pool()
    print(report.line())
    for change in report.changes:
        if change["result"] != "applied":
            print(f"  {change['variant']}: {change['result']}: {change['detail']}")
    return 0 if report.status in ("done", "nothing_to_do") else 1


def cmd_apply_prices(args: argparse.Namespace) -> int:
    return _price_batch(args, "apply")


def cmd_revert_prices(args: argparse.Namespace) -> int:
    return _price_batch(args, "revert")


def cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.shopify_sync import run_benchmark

    return run_benchmark(variants=args.variants, restore_rate=args.restore_rate, upsert_rows=args.upsert_rows)


def cmd_db_stop(args: argparse.Namespace) -> int:
    from shared.db.pool import stop_embedded_database

    stopped = stop_embedded_database(get_settings().local_data_dir)
    print("embedded database stopped" if stopped else "embedded database was not running")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the daily pipeline on the sample store, end to end")
    demo.add_argument("--out", default="out", help="folder for briefing.mp4, briefing.html, recommendations.csv, run.json")
    demo.add_argument("--products", type=int, default=None, help="size of the sample store (default: the full store)")
    demo.add_argument("--with-accounting", action="store_true",
                      help="also read the sample's costs from its books (QuickBooks through an Apideck stand-in)")
    demo.set_defaults(handler=cmd_demo)

    serve = commands.add_parser("serve", help="the local Functions host and Durable runner on 127.0.0.1")
    serve.add_argument("--port", type=int, default=7071)
    serve.add_argument("--no-sample-store", action="store_true", help="do not start the sample store's stand-ins")
    serve.set_defaults(handler=cmd_serve)

    run = commands.add_parser("run-pipeline", help="one pipeline run for a shop in the database")
    run.add_argument("--shop", required=True, help="the shop's domain, name.myshopify.com")
    run.set_defaults(handler=cmd_run_pipeline)

    migrate = commands.add_parser("migrate", help="apply the database migrations")
    migrate.set_defaults(handler=cmd_migrate)

    catalog = commands.add_parser("import-catalog", help="import a catalogue CSV (Shopify's export or sku,title,price,cost,inventory)")
    catalog.add_argument("file", help="the CSV file (UTF-8, with or without BOM)")
    catalog.add_argument("--shop", required=True, help="the shop's domain, name.myshopify.com")
    catalog.set_defaults(handler=cmd_import_catalog)

    accounting = commands.add_parser("connect-accounting", help="read the shop's costs from QuickBooks or Xero via Apideck")
    accounting.add_argument("--shop", required=True, help="the shop's domain, name.myshopify.com")
    accounting.add_argument("--service", choices=["quickbooks", "xero"], help="the accounting system (Apideck service id)")
    accounting.add_argument("--consumer-id", help="the shop's Apideck consumer id (its Vault connection)")
    accounting.add_argument("--books-currency", help="currency of the books, for items that name none (default: the shop's)")
    accounting.add_argument("--disconnect", action="store_true", help="forget the connection and its costs")
    accounting.set_defaults(handler=cmd_connect_accounting)

    accounting_report = commands.add_parser("accounting-report", help="the accounting connection's status and match report")
    accounting_report.add_argument("--shop", required=True, help="the shop's domain, name.myshopify.com")
    accounting_report.set_defaults(handler=cmd_accounting_report)

    approve = commands.add_parser("approve", help="approve (or --reject) a run's price recommendations")
    approve.add_argument("--shop", required=True, help="the shop's domain, name.myshopify.com")
    approve.add_argument("--run", help="the run's id (default: the shop's latest run with recommendations)")
    approve.add_argument("--sku", action="append", help="a variant's SKU; repeat for more")
    approve.add_argument("--all", action="store_true", help="every price change of the run")
    approve.add_argument("--reject", action="store_true", help="record a rejection instead of an approval")
    approve.add_argument("--by", default=os.environ.get("USER") or "cli", help="who decides (kept in the log)")
    approve.set_defaults(handler=cmd_approve)

    apply_prices = commands.add_parser("apply-prices", help="write approved prices to Shopify (needs PRICING_APPLY_APPROVED=true)")
    apply_prices.add_argument("--shop", required=True, help="the shop's domain, name.myshopify.com")
    apply_prices.add_argument("--run", help="the run's id (default: the shop's latest run with recommendations)")
    apply_prices.add_argument("--by", default=os.environ.get("USER") or "cli", help="who applies (kept in the audit log)")
    apply_prices.set_defaults(handler=cmd_apply_prices)

    revert_prices = commands.add_parser("revert-prices", help="put back the prices the last applied batch replaced")
    revert_prices.add_argument("--shop", required=True, help="the shop's domain, name.myshopify.com")
    revert_prices.add_argument("--run", help="revert the last batch of this run instead of the shop's last batch")
    revert_prices.add_argument("--by", default=os.environ.get("USER") or "cli", help="who reverts (kept in the audit log)")
    revert_prices.set_defaults(handler=cmd_revert_prices)

    bench = commands.add_parser("bench", help="benchmarks printed side by side with their baseline")
    bench.add_argument("what", choices=["sync"], help="sync: paginated sync at the rate limit, and bulk upsert vs COPY")
    bench.add_argument("--variants", type=int, default=20_000, help="catalogue size for the sync (default 20000)")
    bench.add_argument("--restore-rate", type=float, default=2000.0, help="points/s of the emulated shop (default 2000)")
    bench.add_argument("--upsert-rows", type=int, default=100_000, help="variants for upsert vs COPY (default 100000)")
    bench.set_defaults(handler=cmd_bench)

    db_stop = commands.add_parser("db-stop", help="stop the embedded PostgreSQL")
    db_stop.set_defaults(handler=cmd_db_stop)
    return parser


def main(argv: list[str] | None = None) -> int:
    load_local_settings_file(Path(os.environ.get("LOCAL_SETTINGS_FILE", REPO_ROOT / "local.settings.json")))
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
