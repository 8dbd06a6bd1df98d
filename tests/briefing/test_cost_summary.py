"""The briefing page's cost section: every service's calls and units, escaped, in a fixed order."""

from __future__ import annotations

from datetime import date

from shared.briefing.cost_summary import CostRow
from shared.briefing.page import BriefingPageView, render_briefing_page


def section(page: str) -> str:
    start = page.index('<section id="run-costs">')
    return page[start:page.index("</section>", start)]


def test_the_page_shows_each_services_calls_and_costs_in_its_own_unit():
    view = BriefingPageView(shop_name="Sample", run_date=date(2026, 11, 28), costs=[
        CostRow(service="shopify", unit="query_points", amount=1234),
        CostRow(service="shopify", unit="calls", amount=17),
        CostRow(service="zenrows", unit="request_cost", amount=12.5),
    ])
    html = section(render_briefing_page(view))
    rows = html.split("<tr>")[2:]
    assert [r.split("</td>")[0].removeprefix("<td>") for r in rows] == ["shopify", "shopify", "zenrows"]
    assert "calls</td><td class=\"num\">17<" in rows[0]
    assert "Shopify query points</td><td class=\"num\">1,234<" in rows[1]
    assert "ZenRows request cost</td><td class=\"num\">12.50<" in rows[2]


def test_names_are_escaped_and_a_run_without_calls_says_so():
    hostile = BriefingPageView(shop_name="S", run_date=date(2026, 11, 28),
                               costs=[CostRow(service="<script>x</script>", unit="calls", amount=1)])
    html = section(render_briefing_page(hostile))
    assert "<script>" not in html and "&lt;script&gt;" in html
    quiet = section(render_briefing_page(BriefingPageView(shop_name="S", run_date=date(2026, 11, 28))))
    assert "made no calls to outside services" in quiet
