"""`python -m shared.cli`: the demo, the local host, one-off runs and database chores."""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import time
from collections.abc import Callable
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
        result = run_demo(Path(args.out), products=args.products, progress=print,
                          cloud_stand_ins=args.cloud_stand_ins, with_accounting=args.with_accounting)
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


def _report_csv_import(path: str, run_import: Callable[[], str]) -> int:
    """Run one CSV import; print what it did, or every problem by row and column."""
    from shared.csv_problems import CsvRejectedError
    from shared.db.pool import close_pool

    try:
        done = run_import()
    except CsvRejectedError as exc:
        print(f"{path}: not imported, nothing was changed ({len(exc.problems)} problems):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except (LookupError, ValueError, OSError) as exc:  # shop not installed or malformed, file unreadable
        print(f"{path}: not imported: {exc}", file=sys.stderr)
        return 1
    finally:
        close_pool()
    print(f"{path}: {done}")
    return 0


def cmd_import_catalog(args: argparse.Namespace) -> int:
    from shared.shopify.catalog_import import import_catalog_csv

    def run() -> str:
        result = import_catalog_csv(args.shop, Path(args.file).read_bytes())
        counts = ", ".join(f"{k}={v}" for k, v in result.counts.model_dump().items())
        return f"imported as {result.format.value} CSV for {result.shop}: {counts}"

    return _report_csv_import(args.file, run)


def cmd_import_competitors(args: argparse.Namespace) -> int:
    from shared.market.competitor_import import import_competitor_csv

    def run() -> str:
        result = import_competitor_csv(args.shop, Path(args.file).read_bytes())
        counts = ", ".join(f"{k}={v}" for k, v in result.counts.model_dump().items())
        return f"competitors imported for {result.shop}: {counts}"

    return _report_csv_import(args.file, run)


def _shop_id(domain: str) -> int:
    """The installed shop's id; ShopNotInstalledError (reported by `main`) otherwise."""
    from shared.db.pool import transaction
    from shared.db.shops import check_shop_domain, installed_shop

    with transaction() as conn:
        return installed_shop(conn, check_shop_domain(domain)).id


def cmd_match_competitors(args: argparse.Namespace) -> int:
    """Read the competitor pages imported without a SKU, propose matches, list what awaits a decision."""
    import asyncio

    from shared.db.competitor_matches import list_matches
    from shared.db.pool import close_pool, transaction
    from shared.market.matching import propose_pending_matches

    try:
        shop_id = _shop_id(args.shop)
        if not args.list_only:
            summary = asyncio.run(propose_pending_matches(shop_id))
            print(f"pages read: {summary.pages}; proposed {summary.proposed} {summary.by_method}, "
                  f"no match {summary.no_match}, failed {summary.failed}")
        with transaction() as conn:
            matches = list_matches(conn, shop_id, args.status)
    finally:
        close_pool()
    for m in matches:
        target = f"{m.sku or '-'} {m.variant_title or ''}".strip() if m.variant_id else "(no variant)"
        confidence = f"{m.confidence:.2f}" if m.confidence is not None else "   -"
        print(f"{m.id:>6}  {m.status:<9} {confidence} {m.method or '-':<6} {m.competitor}: {m.url}\n"
              f"        page: {m.page_title or '?'} (gtin {m.page_gtin or '-'}, sku {m.page_sku or '-'}, "
              f"mpn {m.page_mpn or '-'}) -> {target}" + (f"\n        error: {m.error}" if m.error else ""))
    if not matches:
        print(f"no competitor pages with status {', '.join(args.status)}")
    return 0


def cmd_decide_match(args: argparse.Namespace) -> int:
    from shared.db.competitor_matches import MatchDecisionError, confirm_match, reject_match
    from shared.db.pool import close_pool, transaction

    try:
        shop_id = _shop_id(args.shop)
        with transaction() as conn:
            for match_id in args.ids:
                if args.command == "confirm-match":
                    confirm_match(conn, shop_id, match_id, sku=args.sku)
                else:
                    reject_match(conn, shop_id, match_id)
    except MatchDecisionError as exc:
        print(f"nothing changed: {exc}", file=sys.stderr)
        return 1
    finally:
        close_pool()
    verb = "confirmed" if args.command == "confirm-match" else "rejected"
    print(f"{verb}: {', '.join(str(i) for i in args.ids)}")
    return 0


def cmd_trend_keyword(args: argparse.Namespace) -> int:
    """The merchant's own search keyword for a product (by handle), or back to the derived one."""
    from shared.db.pool import close_pool, transaction
    from shared.market.trend_keywords import product_keywords, set_trend_keyword

    if bool(args.keyword) == bool(args.clear):
        print("trend-keyword: give a keyword or --clear (not both)", file=sys.stderr)
        return 2
    try:
        shop_id = _shop_id(args.shop)
        with transaction() as conn:
            row = conn.execute("SELECT id FROM products WHERE shop_id = %s AND handle = %s",
                               (shop_id, args.product)).fetchone()
            if row is None:
                print(f"the shop has no product with handle {args.product!r}", file=sys.stderr)
                return 1
            set_trend_keyword(conn, shop_id, row["id"], None if args.clear else args.keyword)
            keyword = product_keywords(conn, shop_id).get(row["id"])
    except (ValueError, LookupError) as exc:
        print(f"nothing changed: {exc}", file=sys.stderr)
        return 1
    finally:
        close_pool()
    print(f"{args.product}: trends keyword {keyword!r}" + (" (derived)" if args.clear else ""))
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
    if args.what == "pricing":
        from benchmarks.pricing import run_benchmark as run_pricing_benchmark

        return run_pricing_benchmark(variants=args.pricing_variants)
    if args.what == "scrape":
        from benchmarks.scrape import run_benchmark as run_scrape_benchmark

        return run_scrape_benchmark(urls=args.urls, domains=args.domains, interval=args.interval,
                                    concurrency=args.concurrency)
    from benchmarks.shopify_sync import run_benchmark

    return run_benchmark(variants=args.variants, restore_rate=args.restore_rate, upsert_rows=args.upsert_rows,
                         parts=args.sync_parts, repeats=args.repeats)


def cmd_recommend(args: argparse.Namespace) -> int:
    from shared.recommend_csv import RecommendCsvError, SettingsFileError, run

    try:
        count = run(Path(args.input), Path(args.output), Path(args.settings) if args.settings else None)
    except RecommendCsvError as exc:
        print(f"{args.input}: no output written; {exc}", file=sys.stderr)
        return 1
    except SettingsFileError as exc:
        print(f"no output written; {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"no output written; {exc.filename or args.input}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"{args.output}: {count} rows with recommendations")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from shared.local.backtest import format_report, run_backtest

    result = run_backtest(seed=args.seed, n_products=args.products, annual_orders=args.annual_orders)
    print(format_report(result))
    return 0
def cmd_extract_price(args: argparse.Namespace) -> int:
    """One JSON line per page file, or the scores of a benchmark-shaped folder."""
    import json

    from shared.market.extraction import PriceHints, extract_price
    from shared.market.extraction.evaluation import EvaluationDataError, evaluate, read_html

    if args.eval:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the figure claims
        try:
            scores, pages_per_second = evaluate(Path(args.eval), rounds=args.rounds)
        except (EvaluationDataError, OSError) as exc:
            print(f"extract-price --eval: {exc}", file=sys.stderr)
            return 1
        print(f"{scores.pages} pages ({scores.with_price} with a price): TP {scores.tp}, FP {scores.fp}, FN {scores.fn}")
        print(f"precision {scores.precision:.3f}  recall {scores.recall:.3f}  F1 {scores.f1:.3f}")
        print(f"pages/s {pages_per_second:.1f} (one core, CPU time, {args.rounds} rounds)")
        return 0
    if not args.paths:
        print("extract-price: give page files (.html or .html.gz), or --eval DIR", file=sys.stderr)
        return 2
    hints = PriceHints(currency=args.currency) if args.currency else None
    failed = 0
    for name in args.paths:
        path = Path(name)
        if not path.name.endswith((".html", ".htm", ".html.gz", ".htm.gz")):
            print(f"{name}: not an .html or .html.gz file", file=sys.stderr)
            failed += 1
            continue
        try:
            html = read_html(path)
        except (OSError, EOFError, ValueError) as exc:  # gzip raises BadGzipFile (an OSError) or EOFError
            print(f"{name}: cannot read: {exc}", file=sys.stderr)
            failed += 1
            continue
        result = extract_price(html, args.url, hints)
        print(json.dumps({
            "file": name,
            "price": None if result.price is None else str(result.price),
            "currency": result.currency,
            "availability": result.availability.value,
            "source": None if result.source is None else result.source.value,
        }))
    return 1 if failed else 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    from shared.db.pool import stop_embedded_database

    stopped = stop_embedded_database(get_settings().local_data_dir)
    print("embedded database stopped" if stopped else "embedded database was not running")
    return 0


def cmd_reseal_tokens(args: argparse.Namespace) -> int:
    from shared.shopify.token_reseal import reseal_all_tokens
    from shared.shopify.tokens import token_cipher

    summary = reseal_all_tokens(token_cipher())
    left = ", ".join(f"{key_id}: {n}" for key_id, n in summary.key_ids_left.items()) or "none"
    print(f"re-sealed {summary.resealed} shops, {summary.already_current} already current; shops by key id: {left}")
    if summary.unreadable:
        print(f"{len(summary.unreadable)} shops have tokens no configured key opens: {', '.join(summary.unreadable)}")
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the daily pipeline on the sample store, end to end")
    demo.add_argument("--out", default="out", help="folder for briefing.mp4, briefing.html, recommendations.csv, run.json")
    demo.add_argument("--products", type=int, default=None, help="size of the sample store (default: the full store)")
    demo.add_argument("--cloud-stand-ins", action="store_true",
                      help="write, speak and render the briefing through loopback Azure OpenAI, ElevenLabs and VEED")
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

    competitors = commands.add_parser("import-competitors", help="import competitor pages from a CSV (sku,competitor,url)")
    competitors.add_argument("file", help="the CSV file (UTF-8); optional columns currency, fetch_tier, price_selector")
    competitors.add_argument("--shop", required=True, help="the shop's domain, name.myshopify.com")
    competitors.set_defaults(handler=cmd_import_competitors)

    match = commands.add_parser("match-competitors", help="propose variants for competitor pages imported without a SKU")
    match.add_argument("--shop", required=True, help="the shop's domain, name.myshopify.com")
    match.add_argument("--status", nargs="+", default=["proposed", "no_match", "pending"],
                       help="which matches to list (default: proposed no_match pending)")
    match.add_argument("--list-only", action="store_true", help="do not read pending pages, only list")
    match.set_defaults(handler=cmd_match_competitors)

    for name, help_text in (("confirm-match", "confirm proposed matches: only confirmed pages are scraped"),
                            ("reject-match", "reject proposed (or confirmed) matches")):
        decide = commands.add_parser(name, help=help_text)
        decide.add_argument("ids", nargs="+", type=int, help="match ids, as match-competitors lists them")
        decide.add_argument("--shop", required=True, help="the shop's domain, name.myshopify.com")
        if name == "confirm-match":
            decide.add_argument("--sku", help="link to this variant instead of the proposed one")
        decide.set_defaults(handler=cmd_decide_match, sku=None)

    keyword = commands.add_parser("trend-keyword", help="set the Google Trends keyword of a product (by handle)")
    keyword.add_argument("product", help="the product's handle")
    keyword.add_argument("keyword", nargs="?", help="the keyword customers search for")
    keyword.add_argument("--clear", action="store_true", help="derive it again from product type or title")
    keyword.add_argument("--shop", required=True, help="the shop's domain, name.myshopify.com")
    keyword.set_defaults(handler=cmd_trend_keyword)
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
    bench.add_argument("what", choices=["sync", "pricing", "scrape"],
                       help="sync: paginated sync at the rate limit, and bulk upsert vs COPY; "
                            "pricing: the engine on 100,000 variants against a plain numpy baseline; "
                            "scrape: competitor pages at the politeness limit")
    bench.add_argument("--pricing-variants", type=int, default=100_000, help="variants for bench pricing (default 100000)")
    bench.add_argument("--variants", type=int, default=20_000, help="catalogue size for the sync (default 20000)")
    bench.add_argument("--restore-rate", type=float, default=2000.0, help="points/s of the emulated shop (default 2000)")
    bench.add_argument("--upsert-rows", type=int, default=100_000, help="variants for upsert vs COPY (default 100000)")
    bench.add_argument("--only", dest="sync_parts", choices=["rate", "upsert"], default=None,
                       help="sync: run only (a) the rate-limited sync or (b) the upsert vs COPY (default both)")
    bench.add_argument("--repeats", type=int, default=5, help="sync: paired upsert/COPY runs per scenario (default 5)")
    bench.add_argument("--urls", type=int, default=1000, help="scrape: competitor URLs (default 1000)")
    bench.add_argument("--domains", type=int, default=10, help="scrape: loopback competitor sites (default 10)")
    bench.add_argument("--interval", type=float, default=0.1, help="scrape: seconds between requests to one site (default 0.1)")
    bench.add_argument("--concurrency", type=int, default=10, help="scrape: requests in flight across the run (default 10)")
    bench.set_defaults(handler=cmd_bench)

    rec = commands.add_parser("recommend", help="price recommendations for a CSV of variants, without a shop")
    rec.add_argument("--input", required=True, help="CSV: sku, price, cost, inventory, units_30d, competitor_min, "
                     "competitor_median, competitor_max, trend_slope [, map_price, compare_at_price]")
    rec.add_argument("--output", required=True, help="CSV to write: the input plus the recommendation columns")
    rec.add_argument("--settings", help="TOML file of shop settings (strategy, min_margin_pct, rounding, ...)")
    rec.set_defaults(handler=cmd_recommend)

    backtest = commands.add_parser("backtest", help="replay the sample store's year under the pricing engine")
    backtest.add_argument("--seed", type=int, default=None, help="sample store seed (default: the demo's)")
    backtest.add_argument("--products", type=int, default=None, help="sample store size (default: the full store)")
    backtest.add_argument("--annual-orders", type=int, default=None, help="order volume (default: a small shop's)")
    backtest.set_defaults(handler=cmd_backtest)
    extract = commands.add_parser("extract-price", help="the price of product pages, or scores on a benchmark folder")
    extract.add_argument("paths", nargs="*", metavar="PATH", help="page files, .html or .html.gz")
    extract.add_argument("--eval", metavar="DIR", help="score a folder laid out like product-pages (ground-truth.json, html/)")
    extract.add_argument("--rounds", type=int, default=3, help="timed passes over the folder for pages/s (default 3)")
    extract.add_argument("--url", help="the pages' URL (helps pick a variant and the currency)")
    extract.add_argument("--currency", help="ISO code the site sells in, when the page does not say")
    extract.set_defaults(handler=cmd_extract_price)

    db_stop = commands.add_parser("db-stop", help="stop the embedded PostgreSQL")
    db_stop.set_defaults(handler=cmd_db_stop)

    reseal = commands.add_parser("reseal-tokens", help="re-seal stored shop tokens with the first TOKEN_ENCRYPTION_KEY")
    reseal.set_defaults(handler=cmd_reseal_tokens)
    return parser


def main(argv: list[str] | None = None) -> int:
    load_local_settings_file(Path(os.environ.get("LOCAL_SETTINGS_FILE", REPO_ROOT / "local.settings.json")))
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from shared.db.shops import ShopNotInstalledError

    try:
        return args.handler(args)
    except ShopNotInstalledError as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
