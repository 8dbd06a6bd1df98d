"""Own-price elasticity per product group, learnt from the shop's weekly sales.

The model is a log-log demand curve fitted as a Poisson regression (a small shop sells
0, 1 or 2 units of a variant in most weeks, so log(units) is undefined and OLS on it is
biased; the Poisson log link keeps the zeros and the coefficient on log price is still the
elasticity):

    log E[units(v, t)] = alpha_v + e_g * log price(v, t) + s_g * season_t

`alpha_v` is one level per variant (absorbed exactly, see `_poisson_fixed_effects`),
`e_g` the elasticity of the variant's group, and `season_t` a shop-wide weekly index
(Christmas, Black Friday, the quiet summer) learnt in a first pass with one dummy per
week, which each group then loads with its own strength `s_g`: candles follow Christmas
harder than cushions. Standard errors are scaled by the Pearson dispersion, since weekly
demand is noisier than Poisson.

Groups differ in how much their prices moved and how much they sold, so the raw estimates
are combined with a prior by empirical Bayes: the prior is the random-effects mean of all
groups with a between-group spread tau^2 (DerSimonian-Laird). A group whose standard
error is at most `ESTIMATED_MAX_SE` ("estimated") gets the precision-weighted blend of its
estimate and the prior; a group with less evidence, or whose prices never moved, gets the
prior itself ("prior"). Results are bounded to `BOUNDS`.

Pure functions over numpy arrays; nothing here reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

# Beyond these, an estimate says more about the data than about the shoppers.
BOUNDS = (-4.0, -0.2)
# When there is too little data for even a pooled prior: a typical retail elasticity.
DEFAULT_PRIOR = -1.2
DEFAULT_PRIOR_SD = 0.6
# A group whose raw standard error is at most this is "estimated"; above it, "prior-led".
ESTIMATED_MAX_SE = 0.25
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class WeeklyPanel:
    """One observation per (variant, week) while the variant was on sale."""

    variant: np.ndarray  # int64 index into the caller's variant list
    group: np.ndarray  # int64 index into `group_names`
    week: np.ndarray  # int64, 0 = the first week of the history
    units: np.ndarray  # float64
    price: np.ndarray  # float64, the shelf price that week (> 0)
    group_names: tuple[str, ...]
    n_weeks: int

    def __len__(self) -> int:
        return len(self.units)


@dataclass(frozen=True)
class GroupElasticity:
    group: str
    estimate: float  # after shrinkage and bounds: what the engine uses
    raw_estimate: float | None  # the regression's own value; None when it is not identified
    standard_error: float | None
    prior: float
    observations: int
    units: float
    price_variation: float  # standard deviation of log price within variants
    source: str  # "estimated" | "prior"


@dataclass(frozen=True)
class ElasticityEstimates:
    by_group: dict[str, GroupElasticity]
    prior: float
    prior_sd: float

    def for_group(self, group: str | None) -> float:
        found = self.by_group.get(group or "")
        return found.estimate if found else float(np.clip(self.prior, *BOUNDS))


def weekly_panel(
    line_variant: np.ndarray,
    line_time: np.ndarray,
    line_units: np.ndarray,
    line_price: np.ndarray,
    variant_group: np.ndarray,
    variant_product: np.ndarray,
    group_names: tuple[str, ...],
    start: datetime,
    end: datetime,
    price_history: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> WeeklyPanel:
    """Weekly units and shelf price per variant, from order lines.

    `line_time` is seconds since the epoch. `price_history` is (variant, effective time,
    price) change points the shop recorded; a variant that has them gets its weekly price
    from them (the time-weighted mean over the week), and that wins where present.

    Otherwise shelf prices are only seen when something sells, and a small shop's variant
    sells in few weeks. A week it sold takes the price it sold at (units-weighted). A week it
    did not is priced from its group and product (`_infer_unseen_prices`): the group's weekly
    repeat-sales price index, plus the product's deviation from it at its last sale. So a
    move of the whole group (a promotion, a price test) is dated by any of the group's sales,
    and only a product repriced on its own is dated late, at its next sale, which still pulls
    the estimate somewhat towards zero; the recorded history is worth keeping. Where the
    group's index is unknown that week, the last price seen is carried (the first price seen,
    before it). Unsold weeks are priced rather than dropped: keeping only the weeks with a sale
    would select on the outcome (at a high price more weeks sell nothing) and flatten the
    demand curve far more (on the sample store, estimates of about -0.4 for a planted -2.2).

    A variant enters the panel in the week its product first sold, so a product launched
    mid-year does not count its pre-launch weeks as weeks without demand.
    """
    n_weeks = max(1, int((end - start) / WEEK))
    n_variants = len(variant_group)
    week = np.floor((line_time - start.timestamp()) / WEEK.total_seconds()).astype(np.int64)
    keep = (week >= 0) & (week < n_weeks) & (line_price > 0)
    week, var = week[keep], line_variant[keep].astype(np.int64)
    units, price = line_units[keep].astype(np.float64), line_price[keep].astype(np.float64)

    cell = var * n_weeks + week
    total_units = np.bincount(cell, weights=units, minlength=n_variants * n_weeks).reshape(n_variants, n_weeks)
    price_units = np.bincount(cell, weights=units * price, minlength=n_variants * n_weeks).reshape(n_variants, n_weeks)
    lines = np.bincount(cell, minlength=n_variants * n_weeks).reshape(n_variants, n_weeks)
    price_lines = np.bincount(cell, weights=price, minlength=n_variants * n_weeks).reshape(n_variants, n_weeks)
    # Units-weighted mean price; lines with 0 units (fully refunded) still show the price.
    with np.errstate(invalid="ignore", divide="ignore"):
        seen = np.where(total_units > 0, price_units / total_units, np.where(lines > 0, price_lines / lines, np.nan))
    weekly_price = _infer_unseen_prices(
        seen, variant_group.astype(np.int64), variant_product.astype(np.int64), len(group_names)
    )
    if price_history is not None:
        weekly_price = _weekly_prices_from_history(weekly_price, price_history, start, n_weeks)

    first_week = np.full(n_variants, n_weeks, dtype=np.int64)
    any_line = lines > 0
    sold = any_line.any(axis=1)
    first_week[sold] = any_line[sold].argmax(axis=1)
    product_first = {}
    for v in range(n_variants):
        p = int(variant_product[v])
        product_first[p] = min(product_first.get(p, n_weeks), int(first_week[v]))
    entry = np.array([product_first[int(variant_product[v])] for v in range(n_variants)], dtype=np.int64)

    weeks = np.arange(n_weeks)
    on_sale = (weeks[None, :] >= entry[:, None]) & ~np.isnan(weekly_price)
    vv, ww = np.nonzero(on_sale)
    return WeeklyPanel(
        variant=vv.astype(np.int64),
        group=variant_group[vv].astype(np.int64),
        week=ww.astype(np.int64),
        units=total_units[vv, ww],
        price=weekly_price[vv, ww],
        group_names=group_names,
        n_weeks=n_weeks,
    )


def _weekly_prices_from_history(
    weekly_price: np.ndarray, history: tuple[np.ndarray, np.ndarray, np.ndarray], start: datetime, n_weeks: int
) -> np.ndarray:
    variant, moment, price = history
    out = weekly_price.copy()
    # Noon of every day in the window, as seconds since the epoch.
    noons = start.timestamp() + (np.arange(n_weeks * 7) + 0.5) * 86400.0
    order = np.lexsort((moment, variant))
    variant, moment, price = variant[order], moment[order], price[order]
    for v in np.unique(variant):
        rows = variant == v
        times, prices = moment[rows], price[rows]
        at = np.searchsorted(times, noons, side="right") - 1
        # Before the first recorded price the record says nothing: those weeks keep the
        # price seen on the order lines.
        covered = (at >= 0).reshape(n_weeks, 7)
        daily = prices[np.maximum(at, 0)].reshape(n_weeks, 7)
        days = covered.sum(axis=1)
        weekly = np.where(days > 0, (daily * covered).sum(axis=1) / np.maximum(days, 1), np.nan)
        out[int(v)] = np.where(days > 0, weekly, out[int(v)])
    return out


def _infer_unseen_prices(
    seen: np.ndarray, variant_group: np.ndarray, variant_product: np.ndarray, n_groups: int
) -> np.ndarray:
    """Fill the NaN cells of `seen` (variants x weeks) with a shelf price for the weeks a
    variant did not sell; the weeks it sold keep the price it sold at.

    Promotions, price tests and repricing tend to move a whole product group at once, so each
    group gets a weekly log price index learnt from repeat sales (`_repeat_sales_index`), and
    the variants of a product tend to be repriced together, so a sale of any of them shows where
    the product stands against its group. An unsold week's log price is then the variant's own
    level (against the index) + the group's index that week + the product's deviation at its
    last sale (its first, before that). A group-wide move is dated by the group's sales, and
    only a move of one product alone waits for that product's next sale. Where the group's
    index is unknown that week (no sale shows it), the last price seen is carried.
    """
    n_variants, n_weeks = seen.shape
    if not n_variants:
        return seen.copy()
    observed = ~np.isnan(seen)
    log_seen = np.log(seen)
    index, known = _repeat_sales_index(log_seen, variant_group, n_groups)
    index_v, known_v = index[variant_group], known[variant_group]
    # Against the group's index: log price = the variant's level + its product's deviation that
    # week (sizes of one product keep their ratio), fitted by alternating means over the sales.
    against_index = observed & known_v
    n_against = against_index.sum(axis=1)
    sv, sw = np.nonzero(against_index)
    relative = log_seen[sv, sw] - index_v[sv, sw]
    n_products = int(variant_product.max()) + 1
    product_week = variant_product[sv] * n_weeks + sw
    deviation_n = np.bincount(product_week, minlength=n_products * n_weeks).reshape(n_products, n_weeks)
    level = np.bincount(sv, weights=relative, minlength=n_variants) / np.maximum(n_against, 1)
    for _ in range(50):
        deviation_sum = np.bincount(product_week, weights=relative - level[sv], minlength=n_products * n_weeks)
        previous = level
        level = np.bincount(sv, weights=relative - (deviation_sum / np.maximum(deviation_n.ravel(), 1))[product_week],
                            minlength=n_variants) / np.maximum(n_against, 1)
        if np.max(np.abs(level - previous), initial=0.0) < 1e-9:
            break
    deviation_sum = np.bincount(product_week, weights=relative - level[sv], minlength=n_products * n_weeks)
    deviation_sum = deviation_sum.reshape(n_products, n_weeks)
    product_seen = deviation_n > 0
    deviation = np.where(product_seen, deviation_sum / np.maximum(deviation_n, 1), 0.0)
    at_last_sale = deviation[np.arange(n_products)[:, None], _last_seen_column(product_seen)][variant_product]
    inferred = np.exp(level[:, None] + index_v + at_last_sale)
    carried = seen[np.arange(n_variants)[:, None], _last_seen_column(observed)]
    inferable = known_v & (n_against > 0)[:, None]
    return np.where(observed, seen, np.where(inferable, inferred, carried))


def _repeat_sales_index(
    log_seen: np.ndarray, variant_group: np.ndarray, n_groups: int, iterations: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Per group and week, the log price index (groups x weeks) and whether it is known.

    Each pair of consecutive sales of one variant says how much its price moved between the two
    weeks: index[w1] - index[w0] = log p1 - log p0 (a repeat-sales regression, like a house price
    index: the variant's own level cancels, so a dear and a cheap variant compare fairly). The
    pairs are fitted by least absolute deviations, so the index follows what most variants did,
    and a variant repriced on its own counts as an outlier rather than as a move of the group.
    A week no pair touches is unknown. Only differences are identified: each group's index is
    defined up to a constant.
    """
    n_variants, n_weeks = log_seen.shape
    index = np.zeros((n_groups, n_weeks))
    known = np.zeros((n_groups, n_weeks), dtype=bool)
    vv, ww = np.nonzero(~np.isnan(log_seen))
    consecutive = np.flatnonzero(vv[1:] == vv[:-1])
    if not len(consecutive):
        return index, known
    w0, w1 = ww[consecutive], ww[consecutive + 1]
    change = log_seen[vv[consecutive + 1], w1] - log_seen[vv[consecutive], w0]
    pair_group = variant_group[vv[consecutive]]
    for g in np.unique(pair_group):
        mine = pair_group == g
        a, b, y = w0[mine], w1[mine], change[mine]
        touched = np.zeros(n_weeks, dtype=bool)
        touched[a] = touched[b] = True
        weeks_touched = np.flatnonzero(touched)
        weeks_before, weeks_after = weeks_touched[:-1], weeks_touched[1:]
        weights = np.ones(len(y))
        for _ in range(iterations):
            # Normal equations of the pairs: a weighted graph Laplacian over the weeks.
            normal = np.zeros((n_weeks, n_weeks))
            np.add.at(normal, (a, a), weights)
            np.add.at(normal, (b, b), weights)
            np.add.at(normal, (a, b), -weights)
            np.add.at(normal, (b, a), -weights)
            right = (np.bincount(b, weights=weights * y, minlength=n_weeks)
                     - np.bincount(a, weights=weights * y, minlength=n_weeks))
            # A faint random-walk prior between neighbouring weeks: it decides nothing the
            # pairs link, and ties together runs of weeks that no pair links to each other.
            tie = 1e-3 * float(weights.mean())
            np.add.at(normal, (weeks_before, weeks_before), tie)
            np.add.at(normal, (weeks_after, weeks_after), tie)
            np.add.at(normal, (weeks_before, weeks_after), -tie)
            np.add.at(normal, (weeks_after, weeks_before), -tie)
            fit = np.zeros(n_weeks)
            fit[touched] = np.linalg.lstsq(normal[np.ix_(touched, touched)], right[touched], rcond=None)[0]
            residual = y - (fit[b] - fit[a])
            # Least absolute deviations by reweighting (a residual under 0.1 % counts as 0.1 %).
            weights = 1.0 / np.maximum(np.abs(residual), 0.001)
        index[g] = fit
        known[g] = touched
    return index, known


def _last_seen_column(present: np.ndarray) -> np.ndarray:
    """Per cell, the column of the last present cell at or before it in its row; before the
    row's first present cell, that one's column (0 for a row with none)."""
    n_cols = present.shape[1]
    last = np.where(present, np.arange(n_cols)[None, :], -1)
    np.maximum.accumulate(last, axis=1, out=last)
    first = np.where(present.any(axis=1), present.argmax(axis=1), 0)
    return np.where(last >= 0, last, first[:, None])


def _poisson_fixed_effects(
    y: np.ndarray, x: np.ndarray, fe: np.ndarray, fe2: np.ndarray | None = None,
    max_iter: int = 50, tol: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson regression with one intercept per `fe` level (and per `fe2` level), absorbed.

    For Poisson the intercepts have a closed form given everything else
    (alpha_v = log sum y_v - log sum exp(rest)_v), so they are solved by alternating sweeps
    rather than carried as hundreds of dummy columns. At those intercepts the score for
    beta is x'(y - mu), and the Hessian is that of x with the intercepts projected out
    (weights mu): Newton on beta alone converges in a handful of steps. Returns
    (beta, covariance, gamma), gamma being the `fe2` intercepts (empty without `fe2`);
    the covariance is scaled by the Pearson dispersion. Every level must have some sales.
    """
    n, k = x.shape
    n_fe = int(fe.max()) + 1
    y_fe = np.bincount(fe, weights=y, minlength=n_fe)
    n_fe2 = int(fe2.max()) + 1 if fe2 is not None else 0
    y_fe2 = np.bincount(fe2, weights=y, minlength=n_fe2) if fe2 is not None else None
    beta, gamma = np.zeros(k), np.zeros(n_fe2)
    alpha = np.zeros(n_fe)
    hessian = np.eye(k)

    def intercepts(eta: np.ndarray) -> None:
        nonlocal alpha, gamma
        for _ in range(200):
            rest = eta + (gamma[fe2] if fe2 is not None else 0.0)
            alpha = np.log(y_fe) - np.log(np.bincount(fe, weights=np.exp(rest), minlength=n_fe))
            if fe2 is None:
                return
            previous = gamma
            gamma = np.log(y_fe2) - np.log(np.bincount(fe2, weights=np.exp(eta + alpha[fe]), minlength=n_fe2))
            gamma -= gamma[0]
            if np.max(np.abs(gamma - previous)) < 1e-10:
                return

    def project_out(values: np.ndarray, mu: np.ndarray) -> np.ndarray:
        mu_fe = np.bincount(fe, weights=mu, minlength=n_fe)
        mu_fe2 = np.bincount(fe2, weights=mu, minlength=n_fe2) if fe2 is not None else None
        out = values.copy()
        for _ in range(1 if fe2 is None else 30):
            for j in range(k):
                out[:, j] -= (np.bincount(fe, weights=mu * out[:, j], minlength=n_fe) / mu_fe)[fe]
                if fe2 is not None:
                    out[:, j] -= (np.bincount(fe2, weights=mu * out[:, j], minlength=n_fe2) / mu_fe2)[fe2]
        return out

    for _ in range(max_iter):
        eta = x @ beta
        intercepts(eta)
        mu = np.exp(alpha[fe] + (gamma[fe2] if fe2 is not None else 0.0) + eta)
        xd = project_out(x, mu)
        score = x.T @ (y - mu)
        hessian = (xd * mu[:, None]).T @ xd
        step = np.linalg.lstsq(hessian, score, rcond=None)[0]
        beta += step
        if np.max(np.abs(step)) < tol:
            break
    eta = x @ beta
    intercepts(eta)
    mu = np.exp(alpha[fe] + (gamma[fe2] if fe2 is not None else 0.0) + eta)
    dof = max(1, n - k - n_fe - n_fe2)
    dispersion = max(1.0, float(np.sum((y - mu) ** 2 / mu) / dof))
    covariance = np.linalg.pinv(hessian) * dispersion
    return beta, covariance, gamma


def _dersimonian_laird(estimates: np.ndarray, variances: np.ndarray) -> tuple[float, float]:
    """Random-effects mean and between-group variance tau^2."""
    w = 1.0 / variances
    mean_fixed = float(np.sum(w * estimates) / np.sum(w))
    q = float(np.sum(w * (estimates - mean_fixed) ** 2))
    c = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    tau2 = max(0.0, (q - (len(estimates) - 1)) / c) if c > 0 else 0.0
    w_star = 1.0 / (variances + tau2)
    return float(np.sum(w_star * estimates) / np.sum(w_star)), tau2


def estimate_elasticities(
    panel: WeeklyPanel,
    default_prior: float = DEFAULT_PRIOR,
    default_prior_sd: float = DEFAULT_PRIOR_SD,
    min_price_variation: float = 0.02,
) -> ElasticityEstimates:
    """Shrunk, bounded elasticity per group; see the module docstring for the model."""
    names = panel.group_names
    n_groups = len(names)
    sold = np.bincount(panel.variant, weights=panel.units)
    informative = sold[panel.variant] > 0
    y, var_idx = panel.units[informative], panel.variant[informative]
    group, week = panel.group[informative], panel.week[informative]
    log_price = np.log(panel.price[informative])
    _, fe = np.unique(var_idx, return_inverse=True)

    # Within-variant spread of log price, per group: zero means the prices never moved.
    fe_mean = np.bincount(fe, weights=log_price) / np.bincount(fe)
    dev2 = (log_price - fe_mean[fe]) ** 2
    counts = np.bincount(group, minlength=n_groups)
    variation = np.sqrt(np.bincount(group, weights=dev2, minlength=n_groups) / np.maximum(counts, 1))
    identified = variation >= min_price_variation
    units_by_group = np.bincount(group, weights=y, minlength=n_groups)

    raw = np.full(n_groups, np.nan)
    se = np.full(n_groups, np.inf)
    if len(y) and identified.any():
        ids = np.flatnonzero(identified)
        price_cols = np.zeros((len(y), len(ids)))
        for c, g in enumerate(ids):
            price_cols[:, c] = np.where(group == g, log_price, 0.0)
        # Pass 1: one intercept per week (absorbed like the variants') for the shop's season.
        # A week in which nothing sold says nothing about prices; it counts as the quietest.
        week_sales = np.bincount(week, weights=y, minlength=panel.n_weeks)
        selling = week_sales[week] > 0
        weeks_seen, week_fe = np.unique(week[selling], return_inverse=True)
        _, fe1 = np.unique(fe[selling], return_inverse=True)
        _, _, gamma = _poisson_fixed_effects(y[selling], price_cols[selling], fe1, week_fe)
        season_by_week = np.full(panel.n_weeks, gamma.min())
        season_by_week[weeks_seen] = gamma
        season = season_by_week[week] - gamma.mean()
        # Pass 2: each group loads the season with its own strength.
        season_cols = np.zeros((len(y), n_groups))
        for g in range(n_groups):
            season_cols[:, g] = np.where(group == g, season, 0.0)
        present = counts > 0
        x2 = np.hstack([price_cols, season_cols[:, present]])
        beta2, cov2, _ = _poisson_fixed_effects(y, x2, fe)
        raw[ids] = beta2[: len(ids)]
        se[ids] = np.sqrt(np.maximum(np.diag(cov2)[: len(ids)], 1e-12))

    finite = np.isfinite(se)
    if finite.sum() >= 3:
        prior, tau2 = _dersimonian_laird(raw[finite], se[finite] ** 2)
        prior_sd = float(np.sqrt(max(tau2, 0.04)))
    elif finite.any():
        prior, prior_sd = default_prior, default_prior_sd
    else:
        prior, prior_sd = default_prior, default_prior_sd
    prior = float(np.clip(prior, *BOUNDS))

    by_group: dict[str, GroupElasticity] = {}
    for g, name in enumerate(names):
        estimated = bool(finite[g] and se[g] <= ESTIMATED_MAX_SE)
        if estimated:
            precision, prior_precision = 1.0 / se[g] ** 2, 1.0 / prior_sd**2
            posterior = (raw[g] * precision + prior * prior_precision) / (precision + prior_precision)
        else:
            # Too little evidence to move away from the prior: a noisy estimate would
            # steer prices more than it informs them.
            posterior = prior
        by_group[name] = GroupElasticity(
            group=name,
            estimate=float(np.clip(posterior, *BOUNDS)),
            raw_estimate=float(raw[g]) if finite[g] else None,
            standard_error=float(se[g]) if finite[g] else None,
            prior=prior,
            observations=int(counts[g]),
            units=float(units_by_group[g]),
            price_variation=float(variation[g]),
            source="estimated" if estimated else "prior",
        )
    return ElasticityEstimates(by_group=by_group, prior=prior, prior_sd=prior_sd)
