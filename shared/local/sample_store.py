"""A deterministic sample shop: a UK gift and homeware store in GBP, with the truth behind it.

`generate_store(seed, n_products, as_of)` builds the same store for the same arguments: a
catalogue in nine categories (titles, SKUs, GTIN-13 barcodes, variants with their own prices),
stock at two locations, unit costs (a few missing on purpose), a year of orders ending at
`as_of`, the year's price changes, and three competitors each carrying part of the range.

Demand is planted, so that the pricing engine can be checked against a known answer:

    daily units(variant) ~ Poisson( base_weekly / 7
                                    * (price / reference_price) ** elasticity[category]
                                    * season[category](day) * weekday(day) * weekly noise )

where `reference_price` is the variant's launch price and `elasticity` one constant per
category (`store.truth.elasticity_by_category`). Units are split into order lines (mostly one
unit each) and packed into orders of one to four lines. Orders carry no customer data.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np

CURRENCY = "GBP"
SHOP_NAME = "Hare & Hazel Home"
SHOP_DOMAIN = "hare-and-hazel.myshopify.com"
SHOP_TIMEZONE = "Europe/London"
SHOP_COUNTRY = "GB"
DEFAULT_SEED = 20261001
DEFAULT_PRODUCTS = 160
SMALL_STORE_PRODUCTS = 12
# About a dozen orders per product a year: ~2,000 for the default store, a small shop's volume.
ORDERS_PER_PRODUCT_PER_YEAR = 12.5
HISTORY_DAYS = 365

_LONDON = ZoneInfo(SHOP_TIMEZONE)
_CENT = Decimal("0.01")


# --- what the store is made of ------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    id: str
    name: str


@dataclass(frozen=True)
class Variant:
    id: str
    product_id: str
    title: str
    option_name: str
    option_value: str
    sku: str
    barcode: str
    position: int
    price: Decimal  # the price today
    compare_at_price: Decimal | None  # the launch price while the variant is marked down
    reference_price: Decimal  # the launch price: demand is planted relative to it
    # (effective from, price): the launch price first, then every change, oldest first.
    price_history: tuple[tuple[datetime, Decimal], ...]
    inventory_item_id: str
    unit_cost: Decimal | None  # InventoryItem.unitCost; None for a few on purpose
    created_at: datetime
    updated_at: datetime

    def price_at(self, moment: datetime) -> Decimal:
        current = self.price_history[0][1]
        for effective_at, price in self.price_history:
            if effective_at > moment:
                break
            current = price
        return current


@dataclass(frozen=True)
class Product:
    id: str
    title: str
    handle: str
    category: str
    product_type: str
    vendor: str
    status: str
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class InventoryLevel:
    id: str
    inventory_item_id: str
    location_id: str
    available: int
    committed: int
    updated_at: datetime

    @property
    def on_hand(self) -> int:
        return self.available + self.committed


@dataclass(frozen=True)
class LineItem:
    id: str
    variant_id: str
    product_id: str
    sku: str
    name: str
    quantity: int
    current_quantity: int  # after refunds; 0 on a cancelled order
    original_unit_price: Decimal  # the shelf price when ordered
    discounted_unit_price: Decimal  # after all discounts (order-level codes included)


@dataclass(frozen=True)
class Order:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    discount_code: str | None
    line_items: tuple[LineItem, ...]

    @property
    def processed_at(self) -> datetime:
        return self.created_at


@dataclass(frozen=True)
class PriceChange:
    product_id: str
    variant_id: str
    sku: str
    effective_at: datetime
    old_price: Decimal
    new_price: Decimal


@dataclass(frozen=True)
class Competitor:
    key: str
    name: str
    slug: str
    domain: str  # the public domain it pretends to be; served on loopback locally
    markup: str  # how its product pages state the price: json-ld | microdata | opengraph
    disallowed_prefix: str  # a path its robots.txt forbids, where some product pages live
    price_bias: float  # its typical price relative to ours
    price_endings: tuple[str, ...]


@dataclass(frozen=True)
class RelatedItem:
    title: str
    price: Decimal


@dataclass(frozen=True)
class CompetitorListing:
    competitor_key: str
    variant_id: str
    sku: str  # ours: listings are matched to our variants by SKU / GTIN
    gtin: str
    competitor_sku: str
    title: str
    path: str
    price: Decimal
    was_price: Decimal | None
    in_stock: bool
    markup: str  # the competitor's markup, or "plain" for a page with only a visible price
    disallowed_by_robots: bool
    related: tuple[RelatedItem, ...]


@dataclass(frozen=True)
class CategorySpec:
    key: str
    product_type: str
    sku_prefix: str
    base_price: tuple[float, float]  # price band of the cheapest variant, GBP incl. VAT
    cost_ratio: tuple[float, float]  # unit cost as a share of the launch price
    elasticity: float  # planted own-price elasticity
    seasonality: float  # exponent on the shop's seasonal curve: >1 more Christmas-driven
    weight: int  # share of the catalogue
    adjectives: tuple[str, ...]
    nouns: Mapping[str, tuple[str, ...]]  # noun -> materials that go with it ("" for none)
    axes: tuple[tuple[str, tuple[tuple[str, str, float], ...]], ...]  # (option name, (label, code, price factor))
    vendors: tuple[str, ...]
    events: tuple[str, ...] = ()  # gifting moments beyond Christmas: "valentines", "mothers_day"
    price_tests: bool = False  # runs four-week price tests all year: enough variation to learn its elasticity


@dataclass(frozen=True)
class StoreTruth:
    """What the generator planted; the pipeline never sees it, tests and demos compare with it."""

    elasticity_by_category: Mapping[str, float]
    seasonality_by_category: Mapping[str, float]
    base_weekly_units_by_sku: Mapping[str, float]  # at the reference price, season 1, no noise
    reference_price_by_sku: Mapping[str, Decimal]
    annual_orders_target: int

    @staticmethod
    def weekday_factor(day: date) -> float:
        return _WEEKDAY_FACTORS[day.weekday()]

    def season_factor(self, category: str, day: date) -> float:
        return _season(day, CATEGORY_BY_KEY[category])


@dataclass(frozen=True)
class SampleStore:
    seed: int
    as_of: datetime  # orders end just before this moment
    name: str
    domain: str
    currency: str
    timezone: str
    country: str
    products: tuple[Product, ...]
    locations: tuple[Location, ...]
    inventory_levels: tuple[InventoryLevel, ...]
    orders: tuple[Order, ...]
    price_changes: tuple[PriceChange, ...]
    competitors: tuple[Competitor, ...]
    competitor_listings: tuple[CompetitorListing, ...]
    truth: StoreTruth = field(repr=False)

    @cached_property
    def variants(self) -> tuple[Variant, ...]:
        return tuple(v for p in self.products for v in p.variants)

    @cached_property
    def product_by_id(self) -> dict[str, Product]:
        return {p.id: p for p in self.products}

    @cached_property
    def variant_by_id(self) -> dict[str, Variant]:
        return {v.id: v for v in self.variants}

    @cached_property
    def variant_by_sku(self) -> dict[str, Variant]:
        return {v.sku: v for v in self.variants}

    @cached_property
    def category_by_variant_id(self) -> dict[str, str]:
        return {v.id: p.category for p in self.products for v in p.variants}

    @property
    def line_items(self) -> list[LineItem]:
        return [line for order in self.orders for line in order.line_items]

    def competitor(self, key_or_slug: str) -> Competitor:
        for competitor in self.competitors:
            if key_or_slug in (competitor.key, competitor.slug, competitor.name):
                return competitor
        raise KeyError(f"no competitor {key_or_slug!r}")

    def listings_of(self, key_or_slug: str) -> tuple[CompetitorListing, ...]:
        key = self.competitor(key_or_slug).key
        return tuple(listing for listing in self.competitor_listings if listing.competitor_key == key)

    def stock_available(self, variant: Variant) -> int:
        return sum(level.available for level in self.inventory_levels if level.inventory_item_id == variant.inventory_item_id)

    def summary(self) -> dict[str, int]:
        return {
            "products": len(self.products),
            "variants": len(self.variants),
            "inventory_levels": len(self.inventory_levels),
            "orders": len(self.orders),
            "order_lines": sum(len(o.line_items) for o in self.orders),
            "units": sum(line.quantity for o in self.orders for line in o.line_items),
            "price_changes": len(self.price_changes),
            "competitor_listings": len(self.competitor_listings),
        }


# --- the catalogue's vocabulary -----------------------------------------------------------------

_COLOURS = (
    ("Sage", "SAG", 1.0), ("Oat", "OAT", 1.0), ("Ink Blue", "INK", 1.0), ("Terracotta", "TER", 1.0),
    ("Charcoal", "CHA", 1.0), ("Blush", "BLS", 1.0), ("Mustard", "MUS", 1.0), ("Forest Green", "FOR", 1.0),
    ("Cream", "CRM", 1.0), ("Dusky Pink", "DPK", 1.0),
)

CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec(
        "candles", "Candles", "CAN", (8, 16), (0.26, 0.34), -1.8, 1.25, 24,
        ("Fig & Cassis", "Amber & Oud", "Sea Salt & Sage", "Orange Blossom", "Lavender & Cedar",
         "Winter Spice", "Pomegranate Noir", "English Pear", "Bergamot & Vetiver", "Rhubarb & Ginger",
         "Smoked Cedar", "Mimosa", "Tomato Leaf", "Blackcurrant", "Fireside", "Wild Mint"),
        {"Candle": ("Soy Wax", "Rapeseed Wax", "Coconut Wax"), "Jar Candle": ("Amber Glass", "Frosted Glass"),
         "Tin Candle": ("Travel",), "Three-Wick Candle": ("Soy Wax", "Ceramic")},
        (("Size", (("Small 120g", "S", 1.0), ("Medium 220g", "M", 1.5), ("Large 400g", "L", 2.2))),),
        ("Hare & Hazel", "Wick & Ember", "Northern Lights Candle Co."),
        ("valentines", "mothers_day"),
        price_tests=True,
    ),
    CategorySpec(
        "mugs", "Mugs", "MUG", (9, 20), (0.30, 0.38), -1.4, 1.0, 20,
        ("Speckled", "Hand-Thrown", "Reactive Glaze", "Striped", "Dipped", "Embossed", "Botanical",
         "Dotty", "Ribbed", "Scalloped"),
        {"Mug": ("Stoneware", "Porcelain", "Bone China", "Enamel"), "Latte Mug": ("Stoneware", "Porcelain"),
         "Espresso Cup": ("Porcelain", "Stoneware"), "Tumbler": ("Stoneware", "Enamel")},
        (("Colour", _COLOURS),),
        ("Hare & Hazel", "Northern Clay Co.", "Kiln & Co."),
    ),
    CategorySpec(
        "cushions", "Cushions", "CUS", (22, 42), (0.34, 0.42), -1.1, 0.7, 18,
        ("Herringbone", "Bouclé", "Stripe", "Gingham", "Floral", "Geometric", "Pom Pom", "Chunky Knit",
         "Tufted", "Block Print"),
        {"Cushion": ("Wool", "Linen", "Velvet", "Cotton"), "Cushion Cover": ("Linen", "Cotton", "Velvet")},
        (("Size", (("40 x 40 cm", "40", 1.0), ("50 x 50 cm", "50", 1.2), ("30 x 50 cm", "3050", 0.9))),
         ("Colour", _COLOURS)),
        ("Hare & Hazel", "Loom & Lark", "Weft Studio"),
        ("mothers_day",),
    ),
    CategorySpec(
        "prints", "Art Prints", "PRT", (15, 30), (0.18, 0.26), -0.6, 0.9, 18,
        ("Lake District", "Cornish Cove", "Botanical Fern", "Highland Stag", "London Skyline",
         "Wildflower Meadow", "Abstract Shapes", "Lemon Tree", "Mad March Hare", "Puffin", "Vintage Bicycle",
         "Seaside Stripes", "Kitchen Herbs", "Night Sky", "Yorkshire Dales", "Allotment"),
        {"Art Print": ("",), "Giclée Print": ("",), "Screen Print": ("",), "Linocut Print": ("",)},
        (("Size", (("A4", "A4", 1.0), ("A3", "A3", 1.55), ("A2", "A2", 2.3), ("50 x 70 cm", "5070", 2.8))),),
        ("Hare & Hazel", "Paper Fox Press", "Inkwell Studio"),
        ("mothers_day",),
        price_tests=True,
    ),
    CategorySpec(
        "kitchen", "Kitchen & Dining", "KIT", (7, 30), (0.38, 0.46), -1.5, 0.8, 20,
        ("Rustic", "Scandi", "Classic", "Hand-Finished", "Speckled", "Heritage", "Provence", "Harbour"),
        {"Chopping Board": ("Olive Wood", "Acacia", "Oak", "Marble"), "Tea Towel": ("Linen", "Cotton", "Waffle"),
         "Serving Bowl": ("Stoneware", "Acacia", "Enamel"), "Utensil Pot": ("Stoneware", "Enamel", "Marble"),
         "Apron": ("Linen", "Cotton Canvas"), "Butter Dish": ("Stoneware", "Marble", "Glass"),
         "Salad Servers": ("Olive Wood", "Acacia", "Brass"), "Pestle & Mortar": ("Marble", "Granite"),
         "Trivet": ("Cast Iron", "Cork", "Marble")},
        (("Size", (("Small", "S", 1.0), ("Large", "L", 1.4))), ("Colour", _COLOURS)),
        ("Hare & Hazel", "Sill & Stone", "Larder & Co."),
    ),
    CategorySpec(
        "toys", "Toys", "TOY", (10, 28), (0.40, 0.48), -1.2, 1.4, 16,
        ("Cuddly", "Knitted", "Patchwork", "Organic", "Sleepy", "Little", "Woodland"),
        {"Soft Toy": ("Bunny", "Fox", "Bear", "Elephant", "Hedgehog", "Owl", "Penguin", "Lamb"),
         "Rattle": ("Bunny", "Bear", "Lamb"), "Pull-Along": ("Dachshund", "Duck", "Whale"),
         "Stacking Toy": ("Rainbow", "Cactus"), "Hand Puppet": ("Fox", "Dragon", "Owl")},
        (("Size", (("Small", "S", 1.0), ("Large", "L", 1.6))), ("Colour", _COLOURS)),
        ("Little Acorn Toys", "Hare & Hazel", "Button Nose"),
    ),
    CategorySpec(
        "jewellery", "Jewellery", "JWL", (18, 70), (0.22, 0.30), -0.5, 1.2, 16,
        ("Moonstone", "Pearl", "Labradorite", "Amethyst", "Rose Quartz", "Garnet", "Turquoise",
         "Hammered", "Twisted", "Star", "Crescent Moon", "Honeybee", "Leaf"),
        {"Necklace": ("",), "Drop Earrings": ("",), "Stud Earrings": ("",), "Bracelet": ("",), "Ring": ("",),
         "Pendant": ("",), "Hoop Earrings": ("",)},
        (("Finish", (("Sterling Silver", "SLV", 1.0), ("Gold Vermeil", "GLD", 1.25), ("Rose Gold Vermeil", "RSG", 1.2))),),
        ("Hare & Hazel", "Silver Birch Jewellery", "Mira Makes"),
        ("valentines", "mothers_day"),
    ),
    CategorySpec(
        "stationery", "Stationery", "STA", (4, 15), (0.34, 0.42), -2.2, 1.0, 16,
        ("Linen Bound", "Marbled", "Botanical", "Recycled", "Foiled", "Kraft", "Riso Print", "Letterpress"),
        {"A5 Notebook": ("",), "Pocket Journal": ("",), "Weekly Planner": ("",), "Greeting Card Set": ("",),
         "Pencil Set": ("",), "Desk Pad": ("",), "Wrapping Paper": ("",), "Sketchbook": ("",)},
        (("Colour", _COLOURS),),
        ("Paper Fox Press", "Hare & Hazel", "Quill & Fold"),
        price_tests=True,
    ),
    CategorySpec(
        "throws", "Throws & Blankets", "THR", (38, 85), (0.38, 0.46), -0.9, 1.1, 12,
        ("Herringbone", "Check", "Stripe", "Fringed", "Honeycomb", "Tartan", "Waffle", "Ombré"),
        {"Throw": ("Merino Wool", "Lambswool", "Cotton", "Alpaca Blend", "Recycled Wool"),
         "Blanket": ("Lambswool", "Cotton", "Recycled Wool")},
        (("Colour", _COLOURS), ("Size", (("130 x 170 cm", "STD", 1.0), ("150 x 200 cm", "LRG", 1.3)))),
        ("Hare & Hazel", "Loom & Lark", "Fell Mills"),
    ),
)
CATEGORY_BY_KEY = {spec.key: spec for spec in CATEGORIES}

COMPETITORS: tuple[Competitor, ...] = (
    Competitor("c1", "Hearth & Home Co.", "hearth-home", "hearthandhome.example", "json-ld", "/trade/", 0.96, ("0.99",)),
    Competitor("c2", "The Gift Loft", "gift-loft", "thegiftloft.example", "microdata", "/members/", 1.05, ("0.00", "0.50")),
    Competitor("c3", "Nook & Cranny Living", "nook-cranny", "nookandcranny.example", "opengraph", "/clearance/", 1.0, ("0.95",)),
)

# Monday .. Sunday: gift shops sell most on Sunday evening and Monday.
_WEEKDAY_FACTORS = (1.08, 1.0, 0.95, 0.95, 0.9, 0.92, 1.2)
# A calm month-by-month baseline; Christmas and events are laid on top in _season.
_MONTH_LEVELS = (0.65, 0.8, 0.95, 0.85, 0.85, 0.8, 0.75, 0.75, 0.9, 1.0, 1.35, 1.0)


# --- small pure functions -----------------------------------------------------------------------


def gtin13_check_digit(first12: str) -> int:
    """GS1 check digit: weights 1,3,1,3... from the left over the first twelve digits."""
    if len(first12) != 12 or not first12.isdigit():
        raise ValueError("a GTIN-13 check digit needs exactly twelve digits")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return (10 - total % 10) % 10


def is_valid_gtin13(code: str) -> bool:
    return len(code) == 13 and code.isdigit() and gtin13_check_digit(code[:12]) == int(code[12])


def slugify(text: str) -> str:
    text = text.lower().replace("&", "and").replace("é", "e")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def retail_price(amount: float, endings: tuple[str, ...]) -> Decimal:
    """The nearest shelf price with one of the shop's endings (.99, .50, ...), never below 1."""
    candidates = []
    base = math.floor(amount)
    for whole in (base - 1, base, base + 1):
        for ending in endings:
            value = Decimal(whole) + Decimal(ending)
            if value >= 1:
                candidates.append(value)
    return min(candidates, key=lambda v: (abs(float(v) - amount), v))


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP)


def _black_friday(year: int) -> date:
    nov1 = date(year, 11, 1)
    first_thursday = nov1 + timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thursday + timedelta(days=22)


def _mothering_sunday(year: int) -> date:
    # Three weeks before Easter Sunday (anonymous Gregorian algorithm).
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * l) // 433
    month = (h + l - 7 * m + 90) // 25
    day = (h + l - 7 * m + 33 * month + 19) % 32
    return date(year, month, day) - timedelta(days=21)


def _shop_season(day: date) -> float:
    """The whole shop's demand curve: a calm year, then Black Friday and the Christmas rush."""
    if day.month == 12:
        if day.day <= 18:
            level = 2.0 + 0.05 * day.day  # builds to the last posting days
        elif day.day <= 23:
            level = 1.5
        elif day.day <= 26:
            level = 0.35
        else:
            level = 0.9
    else:
        level = _MONTH_LEVELS[day.month - 1]
        if day.month == 11:
            level += 0.02 * day.day  # the run-up to Christmas
    black_friday = _black_friday(day.year)
    if black_friday <= day <= black_friday + timedelta(days=3):
        level *= 1.8
    return level


def _season(day: date, spec: CategorySpec) -> float:
    factor = _shop_season(day) ** spec.seasonality
    if "valentines" in spec.events and day.month == 2 and 1 <= day.day <= 13:
        factor *= 1.5
    if "mothers_day" in spec.events:
        sunday = _mothering_sunday(day.year)
        if sunday - timedelta(days=14) <= day <= sunday:
            factor *= 1.35
    return factor


def _gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def _as_of_moment(as_of: datetime | date | None) -> datetime:
    if as_of is None:
        today = datetime.now(timezone.utc).date()
        return datetime.combine(today, time(0), tzinfo=timezone.utc)
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        return as_of.astimezone(timezone.utc)
    # A date means "up to the end of that day".
    return datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=timezone.utc)


def _allocate(total: int, weights: list[int]) -> list[int]:
    """Split `total` by weight, largest remainder, at least one each when there are enough."""
    minimum = 1 if total >= len(weights) else 0
    counts = [minimum] * len(weights)
    rest = total - sum(counts)
    shares = [rest * w / sum(weights) for w in weights]
    counts = [c + int(s) for c, s in zip(counts, shares)]
    order = sorted(range(len(weights)), key=lambda i: -(shares[i] - int(shares[i])))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


# --- the generator -------------------------------------------------------------------------------


def generate_store(
    seed: int = DEFAULT_SEED,
    n_products: int = DEFAULT_PRODUCTS,
    as_of: datetime | date | None = None,
    annual_orders: int | None = None,
) -> SampleStore:
    """Build the sample store. Same arguments, same store (as_of=None means today, 00:00 UTC).

    `n_products` sets the size (12 makes a test-sized store with the same properties);
    `annual_orders` overrides the order volume (default about 12.5 per product).
    """
    if n_products < 1:
        raise ValueError("n_products must be at least 1")
    end = _as_of_moment(as_of)
    start = end - timedelta(days=HISTORY_DAYS)
    target_orders = annual_orders if annual_orders is not None else max(20, round(n_products * ORDERS_PER_PRODUCT_PER_YEAR))

    # Separate streams per concern, so that a change in one part does not reshuffle the others.
    def stream(name: str) -> random.Random:
        return random.Random(f"{seed}:{name}")

    drafts = _draft_catalogue(stream("catalogue"), n_products, start)
    day_starts = [start + timedelta(days=i) for i in range(HISTORY_DAYS)]
    _plan_prices(stream("prices"), drafts, start, len(day_starts))
    _assign_costs(stream("costs"), drafts)

    orders, base_weekly = _simulate_orders(np.random.default_rng([seed, 7]), stream("orders"), drafts, day_starts, end, target_orders)
    products, variants_by_sku, price_changes = _freeze_catalogue(drafts, day_starts)
    locations, levels = _stock(stream("stock"), drafts, products, base_weekly, end)
    listings = _competitor_listings(stream("competitors"), products, drafts)

    truth = StoreTruth(
        elasticity_by_category={spec.key: spec.elasticity for spec in CATEGORIES},
        seasonality_by_category={spec.key: spec.seasonality for spec in CATEGORIES},
        base_weekly_units_by_sku={sku: base_weekly[sku] for sku in variants_by_sku},
        reference_price_by_sku={sku: v.reference_price for sku, v in variants_by_sku.items()},
        annual_orders_target=target_orders,
    )
    return SampleStore(
        seed=seed,
        as_of=end,
        name=SHOP_NAME,
        domain=SHOP_DOMAIN,
        currency=CURRENCY,
        timezone=SHOP_TIMEZONE,
        country=SHOP_COUNTRY,
        products=products,
        locations=locations,
        inventory_levels=levels,
        orders=orders,
        price_changes=price_changes,
        competitors=COMPETITORS,
        competitor_listings=listings,
        truth=truth,
    )


@dataclass
class _VariantDraft:
    number: int
    title: str
    option_name: str
    option_value: str
    code: str
    factor: float
    sku: str = ""
    barcode: str = ""
    reference_price: Decimal = Decimal(0)
    popularity: float = 1.0
    # (day index, price): day 0 of the window or the launch day first.
    prices: list[tuple[int, Decimal]] = field(default_factory=list)
    unit_cost: Decimal | None = None


@dataclass
class _ProductDraft:
    number: int
    spec: CategorySpec
    title: str
    vendor: str
    created_at: datetime
    launch_day: int  # first day of the window on which it can sell (0 unless launched this year)
    endings: tuple[str, ...]
    cost_ratio: float
    variants: list[_VariantDraft]


def _draft_catalogue(rng: random.Random, n_products: int, start: datetime) -> list[_ProductDraft]:
    counts = _allocate(n_products, [spec.weight for spec in CATEGORIES])
    drafts: list[_ProductDraft] = []
    titles: set[str] = set()
    product_number = 0
    barcode_numbers = rng.sample(range(10_000, 100_000), k=n_products * 5)
    for spec, count in zip(CATEGORIES, counts):
        for index in range(count):
            product_number += 1
            title = _unique_title(rng, spec, titles)
            option_name, options = rng.choice(spec.axes)
            n_variants = min(len(options), rng.choices((1, 2, 3, 4), weights=(15, 30, 40, 15))[0])
            if option_name == "Colour":
                chosen = rng.sample(options, n_variants)
            else:
                chosen = list(options[:n_variants])  # sizes start from the smallest
            launched_this_year = rng.random() < 0.06
            created_at = (
                start + timedelta(days=rng.randint(60, 300), hours=rng.randint(7, 17))
                if launched_this_year
                else start - timedelta(days=rng.randint(30, 900), hours=rng.randint(0, 23))
            )
            launch_day = max(0, (created_at.date() - start.date()).days + 1) if launched_this_year else 0
            draft = _ProductDraft(
                number=product_number,
                spec=spec,
                title=title,
                vendor=rng.choice(spec.vendors),
                created_at=created_at,
                launch_day=launch_day,
                endings=rng.choice((("0.99",), ("0.99",), ("0.50", "0.00"), ("0.95",), ("0.00",))),
                cost_ratio=rng.uniform(*spec.cost_ratio),
                variants=[],
            )
            base = rng.uniform(*spec.base_price)
            popularity = rng.lognormvariate(0, 0.8)
            for position, (label, code, factor) in enumerate(chosen, start=1):
                sku = f"{spec.sku_prefix}-{product_number:03d}-{code}"
                first12 = f"5060{barcode_numbers.pop():05d}{position:03d}"
                variant = _VariantDraft(
                    number=len(drafts) * 10 + position,
                    title=label if n_variants > 1 or option_name != "Colour" else "Default Title",
                    option_name=option_name if n_variants > 1 or option_name != "Colour" else "Title",
                    option_value=label if n_variants > 1 or option_name != "Colour" else "Default Title",
                    code=code,
                    factor=factor,
                    sku=sku,
                    barcode=first12 + str(gtin13_check_digit(first12)),
                    reference_price=retail_price(base * factor, draft.endings),
                    # The first sizes sell best; colours share demand with a little variety.
                    popularity=popularity * (0.8 ** (position - 1) if option_name != "Colour" else rng.uniform(0.6, 1.4)),
                )
                draft.variants.append(variant)
            drafts.append(draft)
    return drafts


def _unique_title(rng: random.Random, spec: CategorySpec, taken: set[str]) -> str:
    for _ in range(200):
        noun = rng.choice(sorted(spec.nouns))
        material = rng.choice(spec.nouns[noun])
        adjective = rng.choice(spec.adjectives)
        title = " ".join(part for part in (adjective, material, noun) if part)
        if title not in taken:
            taken.add(title)
            return title
    # The vocabulary ran out: number the style, as shops do.
    base = title
    suffix = 2
    while f"{base} No. {suffix}" in taken:
        suffix += 1
    taken.add(f"{base} No. {suffix}")
    return f"{base} No. {suffix}"


_PRICE_MULTIPLIERS = (0.7, 0.75, 0.8, 0.85, 0.9, 1.1, 1.15, 1.2, 1.25, 1.3)
# Price tests: alternating two-week blocks 30 % under and 30 % over the planned price.
PRICE_TEST_DAYS = 14
PRICE_TEST_STEPS = (0.75, 1.25)


def _plan_prices(rng: random.Random, drafts: list[_ProductDraft], start: datetime, n_days: int) -> None:
    """Several price changes per product over the year, at random dates, all variants together.

    Random timing, independent of the season, so that a fit can separate price from season.
    """
    for draft in drafts:
        n_changes = rng.choice((2, 3, 3, 4, 4, 5))
        first = draft.launch_day + 14
        candidates = list(range(first, n_days - 3))
        days: list[int] = []
        rng.shuffle(candidates)
        for day in candidates:
            if all(abs(day - other) >= 21 for other in days):
                days.append(day)
            if len(days) == n_changes:
                break
        days.sort()
        multiplier = 1.0
        multipliers = []
        for _ in days:
            multiplier = rng.choice([m for m in _PRICE_MULTIPLIERS + (1.0,) if m != multiplier])
            multipliers.append(multiplier)
        for variant in draft.variants:
            variant.prices = [(draft.launch_day, variant.reference_price)]
            for day, m in zip(days, multipliers):
                price = retail_price(float(variant.reference_price) * m, draft.endings)
                if price != variant.prices[-1][1]:
                    variant.prices.append((day, price))
            if draft.spec.price_tests:
                variant.prices = _with_price_tests(variant, draft, n_days)


def _with_price_tests(variant: "_VariantDraft", draft: "_ProductDraft", n_days: int) -> list[tuple[int, Decimal]]:
    """The planned prices with the category's price tests laid over them (no randomness:
    the block schedule starts a week after launch)."""
    planned = _daily_prices(variant, n_days)
    first = draft.launch_day + 7
    points = sorted({day for day, _ in variant.prices} | set(range(first, n_days, PRICE_TEST_DAYS)))
    prices: list[tuple[int, Decimal]] = []
    for day in points:
        step = PRICE_TEST_STEPS[((day - first) // PRICE_TEST_DAYS) % len(PRICE_TEST_STEPS)] if day >= first else 1.0
        price = retail_price(float(planned[day]) * step, draft.endings) if step != 1.0 else Decimal(str(planned[day]))
        price = price.quantize(_CENT)
        if not prices or prices[-1][1] != price:
            prices.append((day, price))
    return prices


def _assign_costs(rng: random.Random, drafts: list[_ProductDraft]) -> None:
    variants = [v for d in drafts for v in d.variants]
    for draft in drafts:
        for variant in draft.variants:
            ratio = draft.cost_ratio * rng.uniform(0.97, 1.03)
            variant.unit_cost = _money(float(variant.reference_price) * ratio)
    # A few variants have no cost in Shopify: the pipeline must say "no cost, no recommendation".
    missing = max(1, round(len(variants) * 0.04))
    for variant in rng.sample(variants, missing):
        variant.unit_cost = None


def _daily_prices(variant: _VariantDraft, n_days: int) -> np.ndarray:
    prices = np.empty(n_days)
    changes = variant.prices + [(n_days, variant.prices[-1][1])]
    prices[: changes[0][0]] = float(changes[0][1])
    for (day, price), (next_day, _) in zip(changes, changes[1:]):
        prices[day:next_day] = float(price)
    return prices


def _simulate_orders(
    nrng: np.random.Generator,
    rng: random.Random,
    drafts: list[_ProductDraft],
    day_starts: list[datetime],
    end: datetime,
    target_orders: int,
) -> tuple[tuple[Order, ...], dict[str, float]]:
    n_days = len(day_starts)
    variants = [(d, v) for d in drafts for v in d.variants]
    n_var = len(variants)
    calendar = [(ds + timedelta(hours=12)).astimezone(_LONDON).date() for ds in day_starts]
    weekday = np.array([_WEEKDAY_FACTORS[day.weekday()] for day in calendar])
    seasons = {spec.key: np.array([_season(day, spec) for day in calendar]) for spec in CATEGORIES}

    # Expected units with popularity as the base rate, then scaled to the order target.
    intensity = np.zeros((n_days, n_var))
    for j, (draft, variant) in enumerate(variants):
        ratio = _daily_prices(variant, n_days) / float(variant.reference_price)
        alive = np.arange(n_days) >= draft.launch_day
        intensity[:, j] = variant.popularity / 7 * ratio**draft.spec.elasticity * seasons[draft.spec.key] * weekday * alive
    # Each Poisson event is one order line of 1 (75 %), 2 (20 %) or 3 (5 %) units.
    units_per_line = 0.75 + 2 * 0.20 + 3 * 0.05
    lines_per_order_weights = (66, 25, 7, 2)
    lines_per_order = sum((k + 1) * w for k, w in enumerate(lines_per_order_weights)) / sum(lines_per_order_weights)
    scale = target_orders * lines_per_order / intensity.sum()
    intensity *= scale
    base_weekly = {v.sku: v.popularity * scale * units_per_line for _, v in variants}

    weekly_noise = nrng.lognormal(0.0, 0.15, size=(n_days // 7 + 1, n_var))
    purchases = nrng.poisson(intensity * weekly_noise[np.arange(n_days) // 7])

    price_matrix = {v.sku: _daily_prices(v, n_days) for _, v in variants}
    raw_orders: list[tuple[datetime, list[tuple[int, int]]]] = []
    for day in range(n_days):
        lines: list[tuple[int, int]] = []
        for j in np.flatnonzero(purchases[day]):
            for _ in range(int(purchases[day, j])):
                lines.append((int(j), rng.choices((1, 2, 3), weights=(75, 20, 5))[0]))
        rng.shuffle(lines)
        while lines:
            size = rng.choices((1, 2, 3, 4), weights=lines_per_order_weights)[0]
            basket: list[tuple[int, int]] = []
            while lines and len(basket) < size and all(lines[0][0] != j for j, _ in basket):
                basket.append(lines.pop(0))
            # Evening-heavy ordering times, in UK hours.
            hour = rng.choices(range(24), weights=(2, 1, 1, 1, 1, 1, 2, 4, 6, 7, 7, 7, 8, 8, 7, 7, 7, 8, 9, 11, 12, 11, 8, 4))[0]
            created = day_starts[day].astimezone(_LONDON).replace(hour=hour, minute=rng.randint(0, 59), second=rng.randint(0, 59))
            created = min(max(created.astimezone(timezone.utc), day_starts[day]), end - timedelta(seconds=1))
            raw_orders.append((created, basket))
    raw_orders.sort(key=lambda item: item[0])

    orders: list[Order] = []
    line_number = 0
    for index, (created, basket) in enumerate(raw_orders):
        cancelled = rng.random() < 0.015
        code = rng.choice(("WELCOME10", "HAREHAZEL10", "XMAS15")) if rng.random() < 0.1 else None
        discount = Decimal("0.85") if code == "XMAS15" else Decimal("0.90") if code else Decimal(1)
        day = min(n_days - 1, (created - day_starts[0]).days)
        items = []
        touched_later = cancelled
        for j, qty in basket:
            draft, variant = variants[j]
            line_number += 1
            price = _money(price_matrix[variant.sku][day])
            refunded = 0 if cancelled else (1 if rng.random() < 0.03 else 0)
            touched_later = touched_later or bool(refunded)
            items.append(
                LineItem(
                    id=_gid("LineItem", 14_200_000_000_000 + line_number),
                    variant_id=_gid("ProductVariant", 47_000_000_000_000 + variant.number),
                    product_id=_gid("Product", 9_000_000_000_000 + draft.number),
                    sku=variant.sku,
                    name=draft.title if variant.title == "Default Title" else f"{draft.title} - {variant.title}",
                    quantity=qty,
                    current_quantity=0 if cancelled else qty - refunded,
                    original_unit_price=price,
                    discounted_unit_price=(price * discount).quantize(_CENT, rounding=ROUND_HALF_UP),
                )
            )
        cancelled_at = created + timedelta(hours=rng.randint(1, 48)) if cancelled else None
        updated = created + timedelta(hours=rng.randint(2, 120)) if touched_later else created
        orders.append(
            Order(
                id=_gid("Order", 6_100_000_000_000 + index + 1),
                name=f"#{1001 + index}",
                created_at=created,
                updated_at=min(updated, end - timedelta(seconds=1)),
                cancelled_at=min(cancelled_at, end - timedelta(seconds=1)) if cancelled_at else None,
                discount_code=code,
                line_items=tuple(items),
            )
        )
    return tuple(orders), base_weekly


def _freeze_catalogue(
    drafts: list[_ProductDraft], day_starts: list[datetime]
) -> tuple[tuple[Product, ...], dict[str, Variant], tuple[PriceChange, ...]]:
    products: list[Product] = []
    by_sku: dict[str, Variant] = {}
    changes: list[PriceChange] = []
    for draft in drafts:
        product_id = _gid("Product", 9_000_000_000_000 + draft.number)
        variants = []
        last_change = draft.created_at
        for position, vd in enumerate(draft.variants, start=1):
            history = [(draft.created_at if day == draft.launch_day else day_starts[day], price) for day, price in vd.prices]
            variant_id = _gid("ProductVariant", 47_000_000_000_000 + vd.number)
            for (_, old), (effective_at, new) in zip(history, history[1:]):
                changes.append(PriceChange(product_id, variant_id, vd.sku, effective_at, old, new))
            current = history[-1][1]
            updated = history[-1][0] if len(history) > 1 else draft.created_at
            last_change = max(last_change, updated)
            variant = Variant(
                id=variant_id,
                product_id=product_id,
                title=vd.title,
                option_name=vd.option_name,
                option_value=vd.option_value,
                sku=vd.sku,
                barcode=vd.barcode,
                position=position,
                price=current,
                compare_at_price=vd.reference_price if current < vd.reference_price else None,
                reference_price=vd.reference_price,
                price_history=tuple(history),
                inventory_item_id=_gid("InventoryItem", 49_000_000_000_000 + vd.number),
                unit_cost=vd.unit_cost,
                created_at=draft.created_at,
                updated_at=updated,
            )
            variants.append(variant)
            by_sku[vd.sku] = variant
        products.append(
            Product(
                id=product_id,
                title=draft.title,
                handle=slugify(draft.title),
                category=draft.spec.key,
                product_type=draft.spec.product_type,
                vendor=draft.vendor,
                status="ACTIVE",
                tags=(draft.spec.key, "gift"),
                created_at=draft.created_at,
                updated_at=last_change,
                variants=tuple(variants),
            )
        )
    changes.sort(key=lambda c: (c.effective_at, c.sku))
    return tuple(products), by_sku, tuple(changes)


def _stock(
    rng: random.Random,
    drafts: list[_ProductDraft],
    products: tuple[Product, ...],
    base_weekly: dict[str, float],
    end: datetime,
) -> tuple[tuple[Location, ...], tuple[InventoryLevel, ...]]:
    warehouse = Location(_gid("Location", 71_000_000_001), "Leeds Warehouse")
    shop = Location(_gid("Location", 71_000_000_002), "York Shop")
    levels: list[InventoryLevel] = []
    level_number = 0
    for draft, product in zip(drafts, products):
        in_shop = rng.random() < 0.4
        for variant in product.variants:
            weekly = base_weekly[variant.sku] * float(variant.price / variant.reference_price) ** draft.spec.elasticity
            # A small shop sells well under a unit a week of most variants: "low" is a unit or
            # three, "over" is a year's sales or more sitting in the warehouse.
            kind = rng.choices(("zero", "low", "normal", "over"), weights=(6, 16, 58, 20))[0]
            available = {
                "zero": 0,
                "low": max(1, min(3, round(weekly * rng.uniform(0.5, 2)))),
                "normal": max(rng.randint(4, 10), round(weekly * rng.uniform(6, 16))),
                "over": max(rng.randint(30, 80), round(weekly * rng.uniform(52, 100))),
            }[kind]
            committed = 0 if available == 0 else rng.choices((0, 1, 2), weights=(70, 22, 8))[0]
            updated = end - timedelta(hours=rng.randint(1, 72))
            level_number += 1
            levels.append(_level(level_number, variant, warehouse, available, committed, updated))
            if in_shop:
                level_number += 1
                shop_stock = 0 if kind in ("zero", "low") else rng.randint(0, 6)
                levels.append(_level(level_number, variant, shop, shop_stock, 0, updated))
    return (warehouse, shop), tuple(levels)


def _level(number: int, variant: Variant, location: Location, available: int, committed: int, updated: datetime) -> InventoryLevel:
    item_number = variant.inventory_item_id.rsplit("/", 1)[1]
    return InventoryLevel(
        id=f"gid://shopify/InventoryLevel/{90_000_000_000 + number}?inventory_item_id={item_number}",
        inventory_item_id=variant.inventory_item_id,
        location_id=location.id,
        available=available,
        committed=committed,
        updated_at=updated,
    )


def _competitor_listings(
    rng: random.Random, products: tuple[Product, ...], drafts: list[_ProductDraft]
) -> tuple[CompetitorListing, ...]:
    pairs = [(p, v) for p in products for v in p.variants]
    listings: list[CompetitorListing] = []
    for competitor in COMPETITORS:
        carried = sorted(rng.sample(range(len(pairs)), max(3, round(len(pairs) * 0.3))))
        prices: dict[int, Decimal] = {}
        for index in carried:
            _, variant = pairs[index]
            factor = 1.0 if rng.random() < 0.1 else min(1.35, max(0.72, competitor.price_bias * rng.lognormvariate(0, 0.09)))
            prices[index] = retail_price(float(variant.price) * factor, competitor.price_endings)
        # Every competitor shows each case at least once, even in a small store.
        stock_out = {i for i in carried if rng.random() < 0.1} or {carried[0]}
        plain = {i for i in carried if rng.random() < 0.12} or {carried[-1]}
        hidden = {i for i in carried if rng.random() < 0.05} or {carried[len(carried) // 2]}
        for index in carried:
            product, variant = pairs[index]
            price = prices[index]
            was = None
            if price < variant.reference_price * Decimal("0.92") and rng.random() < 0.6:
                was = retail_price(float(variant.reference_price) * competitor.price_bias, competitor.price_endings)
                was = was if was > price else None
            others = [i for i in carried if i != index]
            related = tuple(
                RelatedItem(_listing_title(*pairs[i]), prices[i]) for i in rng.sample(others, min(4, len(others)))
            )
            slug = slugify(_listing_title(product, variant))
            prefix = competitor.disallowed_prefix if index in hidden else "/products/"
            listings.append(
                CompetitorListing(
                    competitor_key=competitor.key,
                    variant_id=variant.id,
                    sku=variant.sku,
                    gtin=variant.barcode,
                    competitor_sku=f"{competitor.key.upper()}{rng.randint(100000, 999999)}",
                    title=_listing_title(product, variant),
                    path=f"{prefix}{slug}",
                    price=price,
                    was_price=was,
                    in_stock=index not in stock_out,
                    markup="plain" if index in plain else competitor.markup,
                    disallowed_by_robots=index in hidden,
                    related=related,
                )
            )
    return tuple(listings)


def _listing_title(product: Product, variant: Variant) -> str:
    return product.title if variant.title == "Default Title" else f"{product.title} ({variant.title})"
