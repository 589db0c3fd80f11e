"""Same-date market context: where a pool's APY stands among all pools observed that day.

A context is a summary of the pools observed on each date: the APYs themselves (for ranks), the
median APY and median APY changes over all pools, and the median changes per project and per
chain. `summarise` builds it from feature rows; `apply` adds the context features to rows from a
context. Training applies each date's own context, the hourly run the context of its snapshot's
pools, and `POST /predictions/pools` the context the latest hourly run stored, so a request of a
few pools is scored against the whole market, not against itself.

Every statistic uses only the pools observed on the row's own date, through features that are
themselves backward-looking, so the context is backward-looking too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

SCOPES = ("market", "project", "chain")


def feature_names(params: Mapping[str, Any]) -> list[str]:
    """The context features, in a fixed order, for the configured change columns."""
    market = [f"mkt_median_{c}" for c in params["market_changes"]]
    groups = [f"{g}_median_{c}" for g in ("project", "chain") for c in params["group_changes"]]
    return ["mkt_apy_pct_rank", "mkt_apy_rel_median", "mkt_median_apy", *market, *groups]


def _observed(rows: pd.DataFrame, universe: Collection[str] | None) -> pd.DataFrame:
    """Rows whose APY is observed, of the universe's pools when given: the market of a date."""
    seen = rows["apy"].notna()
    if universe is not None:
        seen &= rows["pool"].isin(set(universe))
    return rows.loc[seen.to_numpy(bool)]


def _medians(rows: pd.DataFrame, keys: list[str], columns: Sequence[str]) -> pd.DataFrame:
    """Median of each column per key, NaN skipped, with the number of observed pools."""
    grouped = rows.groupby(keys, sort=True, observed=True)
    table = grouped[list(columns)].median().add_suffix("_median")
    return table.assign(pools=grouped.size()).reset_index()


def summarise(
    rows: pd.DataFrame, params: Mapping[str, Any], universe: Collection[str] | None = None
) -> dict[str, pd.DataFrame]:
    """The context of every date in `rows`: APYs, market medians, project and chain medians.

    With a `universe`, only its pools make the market (the hourly run: training's pools).
    """
    seen = _observed(rows, universe)
    market = _medians(seen, ["date"], ["apy", *params["market_changes"]])
    groups = {
        scope: _medians(seen.dropna(subset=[scope]), ["date", scope], params["group_changes"])
        for scope in ("project", "chain")
    }
    apys = seen[["date", "pool", "apy"]].sort_values(["date", "apy"], kind="stable")
    return {"apy": apys.reset_index(drop=True), "market": market, **groups}


def _rank_counts(query: pd.DataFrame, reference: pd.DataFrame, ties_first: bool) -> np.ndarray:
    """Per query row, the reference APYs of its date below it (or at most it, if not first)."""
    both = pd.concat(
        [
            reference.assign(_ref=1, _order=-1),
            query[["date", "apy"]].assign(_ref=0, _order=np.arange(len(query))),
        ],
        ignore_index=True,
    )
    # Among equal APYs the queries sort before the references (counting those below) or after.
    tie = np.where(both["_ref"].eq(1), 1 if ties_first else 0, 0 if ties_first else 1)
    both = both.assign(_tie=tie).sort_values(["date", "apy", "_tie"], kind="stable")
    seen = both.groupby("date", sort=False)["_ref"].cumsum()
    at_query = both["_order"].ge(0).to_numpy()
    counts = np.empty(len(query))
    counts[both["_order"].to_numpy()[at_query]] = seen.to_numpy()[at_query]
    return counts


def _pct_rank(rows: pd.DataFrame, apys: pd.DataFrame) -> np.ndarray:
    """Each row's APY percentile rank among its date's APYs, ties averaged (pandas' pct rank).

    A row ranks among the other pools of the reference and its own current APY: in training
    and in the hourly run its own entry is that same value, so this is pandas' rank; a request
    scored against a stored market replaces its pool's stored APY by the one it sends, or joins
    the market if its pool was not in it. So a rank is always in (0, 1].
    """
    has_apy = rows["apy"].notna().to_numpy()
    query = rows.loc[has_apy, ["date", "pool", "apy"]].reset_index(drop=True)
    below = _rank_counts(query, apys[["date", "apy"]], ties_first=True)
    at_most = _rank_counts(query, apys[["date", "apy"]], ties_first=False)
    total = query["date"].map(apys.groupby("date").size()).fillna(0).to_numpy(dtype=float)
    own = (
        query[["date", "pool"]]
        .merge(
            apys.drop_duplicates(["date", "pool"], keep="last"), on=["date", "pool"], how="left"
        )["apy"]
        .to_numpy(dtype=float)
    )
    x = query["apy"].to_numpy(dtype=float)
    has_own = ~np.isnan(own)
    below_others = below - (has_own & (own < x))
    ties_others = at_most - below - (has_own & (own == x))
    others = total - has_own
    rank = np.full(len(rows), np.nan)
    # Average 1-based rank of the tie run that the row's own value joins, over the pools.
    # No market that day (no pool of the universe observed): no rank.
    rank[has_apy] = np.where(
        total > 0, (below_others + (ties_others + 2) / 2) / (others + 1), np.nan
    )
    return rank


def apply(
    rows: pd.DataFrame, context: Mapping[str, pd.DataFrame], params: Mapping[str, Any]
) -> pd.DataFrame:
    """Add the context features to rows (by date, project, chain); none where APY is missing."""
    context = {k: t.assign(date=t["date"].astype(rows["date"].dtype)) for k, t in context.items()}
    # Merges return rows in `rows` order on a fresh index: values are taken as arrays.
    market = rows[["date"]].merge(context["market"], on="date", how="left")
    apy = np.log1p(rows["apy"].to_numpy(dtype=float))
    # The market's level: yields mean-revert market-wide, so a high day tends to be followed
    # by falls (log1p, as every APY feature).
    level = np.log1p(market["apy_median"].to_numpy(dtype=float))
    new: dict[str, np.ndarray] = {
        "mkt_apy_pct_rank": _pct_rank(rows, context["apy"]),
        "mkt_apy_rel_median": apy - level,
        "mkt_median_apy": level,
    }
    for change in params["market_changes"]:
        new[f"mkt_median_{change}"] = _values(market, f"{change}_median")
    for scope in ("project", "chain"):
        group = rows[["date", scope]].merge(context[scope], on=["date", scope], how="left")
        for change in params["group_changes"]:
            new[f"{scope}_median_{change}"] = _values(group, f"{change}_median")
    missing = rows["apy"].isna().to_numpy()
    return rows.assign(**{k: np.where(missing, np.nan, v) for k, v in new.items()})


def _values(table: pd.DataFrame, column: str) -> np.ndarray:
    """A merged column as floats; NaN when the context has no such statistic (no pool)."""
    if column not in table:
        return np.full(len(table), np.nan)
    return table[column].to_numpy(dtype=float)


def add_features(rows: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """Add the context features of each row's own date, from the rows themselves."""
    return apply(rows, summarise(rows, params), params)


def restamp(context: Mapping[str, pd.DataFrame], date: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """A single-date context moved to another date (a stored run's market applied today)."""
    dates = context["market"]["date"].unique()
    if len(dates) != 1:
        raise ValueError(f"a stored market context holds one date, this one holds {len(dates)}")
    return {scope: table.assign(date=date) for scope, table in context.items()}


def to_records(context: Mapping[str, pd.DataFrame]) -> dict[str, list[dict[str, Any]]]:
    """A context as JSON-ready records (dates as YYYY-MM-DD, NaN as null)."""
    out = {}
    for scope, table in context.items():
        table = table.assign(date=pd.to_datetime(table["date"]).dt.strftime("%Y-%m-%d"))
        out[scope] = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    return out


def _columns(scope: str) -> list[str]:
    """The columns of an empty context table (only the date-keyed tables' medians vary)."""
    keys = {"apy": ["date", "pool", "apy"], "market": ["date", "apy_median", "pools"]}
    return keys.get(scope, ["date", scope, "pools"])


def from_records(records: Mapping[str, list[dict[str, Any]]]) -> dict[str, pd.DataFrame]:
    """A context from its JSON records."""
    missing = [scope for scope in ("apy", *SCOPES) if scope not in records]
    if missing:
        raise ValueError(f"market context lacks its {', '.join(missing)} table(s)")
    out = {}
    for scope in ("apy", *SCOPES):
        table = pd.DataFrame.from_records(records[scope])
        if table.empty:  # no pool observed: the tables keep their columns, with no rows
            table = pd.DataFrame(columns=_columns(scope))
        numeric = [c for c in table.columns if c not in ("date", "pool", "project", "chain")]
        out[scope] = table.assign(
            date=pd.to_datetime(table["date"]).astype("datetime64[us]"),
            **{c: pd.to_numeric(table[c]).astype(float) for c in numeric},
        )
    return out
