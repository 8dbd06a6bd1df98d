"""The narration script: a model, a deterministic template writer, and checks.

`TemplateScriptWriter` is the local stand-in for the Azure OpenAI writer: it fills fixed
sentences with the real product names and numbers of the top three insights and sizes
the narration for 45-60 seconds (110-160 words) by adding optional sentences in
priority order until it reaches a target, or by shortening product titles when even
the required sentences are too long.

Product titles, keywords and the shop name are data: `speakable` strips markup, control
characters and symbols, and bounds them, before they go into a sentence.

`validate_numbers` is the guard for any writer (template or model): every figure in the
script must come from the insights (or be a rounded or absolute form of one, or a count
of items); an invented figure fails with an error naming it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Iterable, Literal, Sequence

from pydantic import BaseModel, Field

from shared.briefing.insights import STEP_LABELS, Insight, InsightKind
from shared.pricing.engine import format_money, format_pct

MIN_WORDS = 110
MAX_WORDS = 160
TARGET_WORDS = 135

# Title word limits tried in turn when the required sentences alone are too long.
TITLE_WORD_LIMITS = (8, 6, 4, 3)
SHORT_TITLE_WORDS = 4
SHOP_NAME_WORDS = 6
_TITLE_MAX_CHARS = 60

_TAG = re.compile(r"<[^>]*>?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_UNSPEAKABLE = re.compile(r"[^\w\s\-'&/+%£$€.,]")
_STRAY_DOT = re.compile(r"(?<!\d)\.|\.(?!\d)")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


class ScriptNumberError(ValueError):
    """The script states a figure that is not in the insights."""


class ScriptLengthError(ValueError):
    """The script cannot be fitted into the word range."""


class ScriptInsight(BaseModel):
    text: str = Field(min_length=1)
    kind: str | None = None
    sku: str | None = None


class BriefingScript(BaseModel):
    """What the narrator says. `shop_name` and `run_date` are metadata, not spoken as such."""

    greeting: str = Field(min_length=1)
    insights: list[ScriptInsight] = Field(min_length=3, max_length=3)
    actions: list[str] = Field(default_factory=list)
    closing: str = Field(min_length=1)
    shop_name: str | None = None
    run_date: date | None = None
    source: str = "template"

    @property
    def word_count(self) -> int:
        return count_words(script_text(self))


class NarrationSegment(BaseModel):
    """The narration spoken while one slide shows; kinds match shared.briefing.video.Slide."""

    kind: Literal["title", "insight", "actions"]
    insight_index: int | None = None
    text: str


ACTIONS_INTRO = "Your actions for today:"


def count_words(text: str) -> int:
    return len(text.split())


def narration_segments(script: BriefingScript) -> list[NarrationSegment]:
    """Title (greeting), one segment per insight, then actions and closing."""
    segments = [NarrationSegment(kind="title", text=script.greeting)]
    segments += [NarrationSegment(kind="insight", insight_index=i, text=item.text)
                 for i, item in enumerate(script.insights)]
    closing = [ACTIONS_INTRO, *script.actions] if script.actions else []
    segments.append(NarrationSegment(kind="actions", text=" ".join([*closing, script.closing])))
    return segments


def script_text(script: BriefingScript) -> str:
    """The whole narration as one text."""
    return " ".join(segment.text for segment in narration_segments(script))


def speakable(text: str | None, max_words: int = TITLE_WORD_LIMITS[0], max_chars: int = _TITLE_MAX_CHARS,
              fallback: str = "this product") -> str:
    """Data text made safe to read aloud: no markup, control characters or symbols; bounded."""
    if not text:
        return fallback
    value = _TAG.sub(" ", html.unescape(_TAG.sub(" ", str(text))))
    value = _CONTROL.sub(" ", value)
    value = _UNSPEAKABLE.sub(" ", value)
    value = _STRAY_DOT.sub(" ", value)
    value = value.replace("&", " and ")
    words = [w.strip(",-/'") for w in value.split()]
    words = [w for w in words if w][:max_words]
    result = ""
    for word in words:
        candidate = f"{result} {word}".strip()
        if len(candidate) > max_chars:
            if not result:
                result = word[:max_chars]
            break
        result = candidate
    return result or fallback


# --- the template writer ----------------------------------------------------------------

_ORDINALS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth twenty-first "
    "twenty-second twenty-third twenty-fourth twenty-fifth twenty-sixth twenty-seventh twenty-eighth "
    "twenty-ninth thirtieth thirty-first"
).split()

# Sentences with no figures, true of every run, used to reach the minimum length.
_GENERIC_CLOSING = (
    "Nothing changes in your store until you approve it.",
    "Every suggested price stays within your daily change limit.",
    "Each suggestion on the page shows how confident we are in it, and why.",
    "Adding unit costs for every product makes these suggestions more complete.",
    "You can sort the table on the page by any column to find the biggest moves.",
    "We check competitor prices and search trends again tomorrow.",
)
_FILLER_INSIGHTS = (
    "Nothing else stood out in today's data.",
    "No other product needs your attention today.",
    "The rest of your range needs no action today.",
)


@dataclass
class _Sentence:
    slot: str  # greeting | insight:<i> | action | closing
    order: int  # position inside its slot
    text: str
    priority: int | None  # None = required; lower numbers are added first

    @property
    def words(self) -> int:
        return count_words(self.text)


def spoken_date(day: date) -> str:
    """'Sunday the twenty-ninth of November': a date with no digits to mistake for a figure."""
    return f"{day:%A} the {_ORDINALS[day.day - 1]} of {day:%B}"


def _pct(value) -> str:
    return format_pct(abs(Decimal(str(value))), places=0)


def _whole(value) -> str:
    return str(int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)))


class TemplateScriptWriter:
    """Deterministic: the same insights give the same script."""

    source = "template"

    def __init__(self, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS, target_words: int = TARGET_WORDS):
        if not min_words <= target_words <= max_words:
            raise ValueError("need min_words <= target_words <= max_words")
        self.min_words, self.max_words, self.target_words = min_words, max_words, target_words

    def write(self, shop_name: str, run_date: date, insights: Sequence[Insight]) -> BriefingScript:
        top = list(insights[:3])
        for title_words in TITLE_WORD_LIMITS:
            sentences = self._sentences(shop_name, run_date, top, title_words)
            chosen = self._fit(sentences)
            if chosen is not None:
                return self._assemble(chosen, shop_name, run_date, top)
        raise ScriptLengthError(
            f"cannot fit the briefing into {self.min_words}-{self.max_words} words even with short titles")

    # Sentences for every slot, required and optional.
    def _sentences(self, shop_name: str, run_date: date, top: list[Insight], title_words: int) -> list[_Sentence]:
        shop = speakable(shop_name, SHOP_NAME_WORDS, fallback="there")
        out = [
            _Sentence("greeting", 0, f"Good morning, {shop}.", None),
            _Sentence("greeting", 1, f"Here is your pricing briefing for {spoken_date(run_date)}.", None),
        ]
        real = len(top)
        if real:
            intro = {1: "Here is the one thing that stands out today.",
                     2: "Here are the two things that stand out today.",
                     3: "Here are the three things that matter most today."}[real]
            out.append(_Sentence("greeting", 2, intro, 4))
        for index in range(3):
            slot = f"insight:{index}"
            if index >= real:
                out.append(_Sentence(slot, 0, _FILLER_INSIGHTS[index], None))
                continue
            core, extras, action = _insight_sentences(top[index], title_words)
            out.append(_Sentence(slot, 0, core, None))
            for n, extra in enumerate(extras):
                out.append(_Sentence(slot, 1 + n, extra, 1 if n == 0 else 3))
            if action:
                out.append(_Sentence("action", index, action, 2))
        out.append(_Sentence("closing", 0, "The full table, charts and reasons are on your briefing page.", None))
        for n, text in enumerate(_GENERIC_CLOSING):
            out.append(_Sentence("closing", 1 + n, text, 5 + n))
        out.append(_Sentence("closing", 99, "Have a good day.", None))
        return out

    def _fit(self, sentences: list[_Sentence]) -> list[_Sentence] | None:
        chosen = [s for s in sentences if s.priority is None]
        total = sum(s.words for s in chosen)
        if total > self.max_words:
            return None
        optional = sorted((s for s in sentences if s.priority is not None), key=lambda s: (s.priority, s.slot, s.order))
        intro_words = count_words(ACTIONS_INTRO)

        def cost(sentence: _Sentence) -> int:
            has_action = any(s.slot == "action" for s in chosen)
            return sentence.words + (intro_words if sentence.slot == "action" and not has_action else 0)

        # First up to the target, then (only if still short) anything that fits.
        for limit in (self.target_words, self.min_words):
            for sentence in optional:
                if sentence in chosen or total >= limit:
                    continue
                if total + cost(sentence) <= self.max_words:
                    total += cost(sentence)
                    chosen.append(sentence)
        if total < self.min_words:
            return None
        return chosen

    def _assemble(self, chosen: list[_Sentence], shop_name: str, run_date: date, top: list[Insight]) -> BriefingScript:
        def joined(slot: str) -> str:
            return " ".join(s.text for s in sorted((s for s in chosen if s.slot == slot), key=lambda s: s.order))

        items = [ScriptInsight(text=joined(f"insight:{i}"),
                               kind=top[i].kind.value if i < len(top) else None,
                               sku=top[i].sku if i < len(top) else None) for i in range(3)]
        actions = [s.text for s in sorted((s for s in chosen if s.slot == "action"), key=lambda s: s.order)]
        return BriefingScript(greeting=joined("greeting"), insights=items, actions=actions,
                              closing=joined("closing"), shop_name=speakable(shop_name, SHOP_NAME_WORDS, fallback=""),
                              run_date=run_date, source=self.source)


def _insight_sentences(insight: Insight, title_words: int) -> tuple[str, list[str], str | None]:
    """(required sentence, optional sentences best first, action) for one insight."""
    n = insight.numbers
    title = speakable(insight.product_title, title_words)
    short = speakable(insight.product_title, min(title_words, SHORT_TITLE_WORDS))
    keyword = speakable(insight.keyword, min(title_words, 5), fallback="a keyword")

    def money(name: str) -> str:
        return format_money(n[name], insight.currency)

    def about(name: str) -> str:
        value = Decimal(str(n[name]))
        if abs(value) >= 100:  # round large sums for the ear
            whole = value.quantize(Decimal(1), rounding=ROUND_HALF_UP)
            return format_money(whole, insight.currency).removesuffix(".00")
        return format_money(value, insight.currency)

    has = n.__contains__
    kind = insight.kind
    window = _whole(n.get("window_days", 28))

    if kind is InsightKind.COMPETITOR_UNDERCUT:
        core = (f"{title} is being undercut: a competitor sells it for {money('competitor_min')}, "
                f"{_pct(n['gap_pct'])} below your {money('current_price')}.")
        extras = [f"It is one of your top sellers, with {_whole(n['units_sold_28d'])} sold in the last {window} days."]
        if has("recommended_price") and n["recommended_price"] != n["current_price"]:
            margin = f", which still keeps a {_pct(n['margin_pct'])} margin on cost" if has("margin_pct") else ""
            extras.append(f"We suggest {money('recommended_price')}{margin}.")
            action = f"Approve {money('recommended_price')} for {short}."
        else:
            extras.append(f"Your limits keep the price at {money('current_price')} for now.")
            action = f"Review the price of {short}."
        return core, extras, action

    if kind is InsightKind.BELOW_MARGIN_FLOOR:
        core = f"{title} sells at {money('current_price')}, under your margin floor of {money('floor_price')}."
        capped = Decimal(str(n["recommended_price"])) < Decimal(str(n["floor_price"]))
        limit = ", the most your daily limit allows" if capped else ""
        extras = [f"We suggest {money('recommended_price')}, a {_pct(n['change_pct'])} rise{limit}."]
        if n.get("units_sold_28d", 0) and has("profit_gain_28d"):
            extras.append(f"At {_whole(n['units_sold_28d'])} sold in the last {window} days, "
                          f"that adds about {about('profit_gain_28d')}.")
        return core, extras, f"Raise {short} to {money('recommended_price')}."

    if kind is InsightKind.COST_RISE:
        core = (f"{title} now costs you {money('cost')}, up {_pct(n['cost_rise_pct'])} "
                f"from {money('previous_cost')}.")
        extras = [f"At {money('current_price')} your margin on cost fell from {_pct(n['margin_before_pct'])} "
                  f"to {_pct(n['margin_now_pct'])}."]
        if n.get("units_sold_28d", 0):
            extras.append(f"At {_whole(n['units_sold_28d'])} sold in the last {window} days, "
                          f"that is about {about('profit_eaten_28d')} less profit.")
        return core, extras, f"Review the price of {short} after its cost rise."

    if kind is InsightKind.OVERSTOCK:
        if has("days_of_cover") and Decimal(str(n["days_of_cover"])) > 365:
            core = f"{title} has {_whole(n['stock'])} in stock, more than a year of sales at the current rate."
        elif has("days_of_cover"):
            core = (f"{title} has {_whole(n['stock'])} in stock, about {_whole(n['days_of_cover'])} "
                    f"days of sales at the current rate.")
        else:
            core = f"{title} has {_whole(n['stock'])} in stock and no sales in the last {window} days."
        extras = []
        value_name = "excess_value_at_cost" if has("excess_value_at_cost") else "excess_value_at_price"
        if has(value_name):
            extras.append(f"That ties up about {about(value_name)} in excess stock.")
        if has("floor_price"):
            extras.append(f"A markdown could help; your margin floor allows prices down to {money('floor_price')}.")
        return core, extras, f"Plan a markdown for {short}."

    if kind is InsightKind.LOW_STOCK_RISING_TREND:
        core = (f"{title} has only {_whole(n['stock'])} left, about {_whole(n['days_of_cover'])} days of sales, "
                f"and searches are rising.")
        if has("recommended_price") and Decimal(str(n["recommended_price"])) > Decimal(str(n["current_price"])):
            extras = [f"We suggest raising it to {money('recommended_price')}."]
        else:
            extras = [f"Hold the price at {money('current_price')} rather than discounting it."]
        if has("raise_gain_28d"):
            extras.append(f"A {_pct(n['raise_pct'])} rise on the remaining stock "
                          f"would add about {about('raise_gain_28d')}.")
        return core, extras, f"Reorder {short}, and hold or raise its price."

    if kind is InsightKind.TREND_SPIKE:
        core = f"Searches for {keyword} are up {_pct(n['spike_pct'])} on their recent average."
        extras = ["Check that related products are in stock and easy to find."]
        return core, extras, f"Feature products related to {keyword}."

    if kind is InsightKind.PRICE_MOVE:
        up = Decimal(str(n["recommended_price"])) > Decimal(str(n["current_price"]))
        core = (f"For {title}, we suggest {money('recommended_price')} instead of {money('current_price')}, "
                f"a {_pct(n['change_pct'])} {'rise' if up else 'cut'}.")
        extras = []
        if has("competitor_median"):
            extras.append(f"Competitors' median price is {money('competitor_median')}.")
        if has("margin_pct"):
            extras.append(f"That keeps a {_pct(n['margin_pct'])} margin on cost.")
        return core, extras, f"Approve {money('recommended_price')} for {short}."

    # Degraded step (and any kind added later): no figures, a pointer to the page.
    label = STEP_LABELS.get(insight.step or "", speakable(insight.step, 4, fallback="one")) if insight.step else "one"
    core = f"One data source had trouble today: the {label} step, so some figures may be incomplete."
    return core, ["The briefing page lists what was affected."], "Check the data notes on your briefing page."


# --- number checking ---------------------------------------------------------------------

def _decimal(value) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _derived_forms(value) -> set[Decimal]:
    """The value and the forms a narrator may say: absolute, rounded to 0, 1 or 2 places."""
    number = _decimal(value)
    if number is None or not number.is_finite():
        return set()
    number = abs(number)
    return {number, *(number.quantize(Decimal(1).scaleb(-p), rounding=ROUND_HALF_UP) for p in (0, 1, 2))}


def _data_strings(script: BriefingScript, insights: Sequence[Insight]) -> list[str]:
    """Every spoken form of titles, keywords and the shop name: data, whose digits are not claims."""
    forms: set[str] = set()
    for insight in insights:
        for text in (insight.product_title, insight.keyword, insight.step):
            if text:
                for words in (*TITLE_WORD_LIMITS, SHORT_TITLE_WORDS, 5):
                    forms.add(speakable(text, words, fallback=""))
                # A model may quote the whole title, as stored or as spoken.
                forms.add(speakable(text, 40, max_chars=200, fallback=""))
                forms.add(" ".join(text.split()))
    if script.shop_name:
        forms.add(script.shop_name)
        forms.add(speakable(script.shop_name, SHOP_NAME_WORDS, fallback=""))
    return sorted((f for f in forms if f), key=len, reverse=True)


def _figure(token: str) -> Decimal | None:
    return _decimal(token.replace(",", ""))


def allowed_figures(script: BriefingScript, insights: Sequence[Insight]) -> set[Decimal]:
    allowed: set[Decimal] = set()
    for insight in insights:
        for value in insight.numbers.values():
            allowed |= _derived_forms(value)
    # Counts of items are trivially derived.
    for count in (len(insights), len(script.insights), len(script.actions)):
        allowed.add(Decimal(count))
    return allowed


def validate_numbers(script: BriefingScript, insights: Sequence[Insight]) -> None:
    """Raise ScriptNumberError naming every figure in the script that the insights do not support."""
    allowed = allowed_figures(script, insights)
    # Titles with words are cut out of the text (whole words only); a bare-number title
    # would cut every such figure, so its numbers are allowed instead.
    data = []
    for form in _data_strings(script, insights):
        if re.search(r"[^\W\d_]", form):
            data.append(re.compile(rf"(?<!\w){re.escape(form)}(?!\w)"))
        else:
            allowed |= {f for f in map(_figure, iter_figures(form)) if f is not None}
    problems = []
    for segment in narration_segments(script):
        text = segment.text
        for pattern in data:
            text = pattern.sub(" ", text)
        for match in _NUMBER.finditer(text):
            figure = _figure(match.group())
            if figure is None or figure not in allowed:
                start, end = max(0, match.start() - 30), min(len(text), match.end() + 30)
                where = segment.kind if segment.insight_index is None else f"insight {segment.insight_index + 1}"
                problems.append(f"{match.group()!r} in the {where} text (…{text[start:end].strip()}…)")
    if problems:
        raise ScriptNumberError("figures not found in the insights: " + "; ".join(problems))


def iter_figures(text: str) -> Iterable[str]:
    """Every figure in a text, as written."""
    return (m.group() for m in _NUMBER.finditer(text))
