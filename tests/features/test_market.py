"""Same-date market context: ranks, medians, stored contexts and their JSON round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yield_runway.features import market

PARAMS = {"market_changes": ["apy_logchg_7d"], "group_changes": ["apy_logchg_7d"]}


def _rows() -> pd.DataFrame:
    """Two dates of pools: ties, a missing APY, a missing change, two projects and chains."""
    return pd.DataFrame(
        {
            "pool": ["a", "b", "c", "d", "e", "a", "b", "c"],
            "date": pd.to_datetime(["2025-01-01"] * 5 + ["2025-01-02"] * 3),
            "project": ["aave", "aave", "comp", "comp", "comp", "aave", "aave", "comp"],
            "chain": ["Eth", "Base", "Eth", "Eth", "Base", "Eth", "Base", "Eth"],
            "apy": [1.0, 3.0, 3.0, np.nan, 7.0, 2.0, 4.0, 0.0],
            "apy_logchg_7d": [0.1, -0.3, 0.2, 0.5, np.nan, 0.0, 0.4, -1.0],
        }
    )


def test_features_by_hand():
    out = market.add_features(_rows(), PARAMS)
    # Day 1 APYs (d is unobserved): 1, 3, 3, 7 -> ranks 1, 2.5, 2.5, 4 of 4.
    np.testing.assert_allclose(
        out["mkt_apy_pct_rank"], [0.25, 0.625, 0.625, np.nan, 1.0, 2 / 3, 1.0, 1 / 3]
    )
    # Day 1 median APY 3; day 2 median APY 2.
    np.testing.assert_allclose(
        out["mkt_apy_rel_median"],
        np.log1p([1, 3, 3, np.nan, 7, 2, 4, 0]) - np.log1p([3, 3, 3, 3, 3, 2, 2, 2]),
    )
    np.testing.assert_allclose(
        out["mkt_median_apy"], np.log1p([3] * 5 + [2] * 3) * [1, 1, 1, np.nan, 1, 1, 1, 1]
    )
    # Changes of observed pools only (d's 0.5 is not the market's), NaN skipped: day 1 -> 0.1.
    np.testing.assert_allclose(
        out["mkt_median_apy_logchg_7d"], [0.1] * 3 + [np.nan] + [0.1, 0.0, 0.0, 0.0]
    )
    # aave day 1: 0.1, -0.3 -> -0.1; comp day 1: 0.2 (e has no change); day 2 aave 0.2, comp -1.
    np.testing.assert_allclose(
        out["project_median_apy_logchg_7d"], [-0.1, -0.1, 0.2, np.nan, 0.2, 0.2, 0.2, -1.0]
    )
    # Eth day 1: 0.1, 0.2 -> 0.15; Base day 1: -0.3 (e has none).
    np.testing.assert_allclose(
        out["chain_median_apy_logchg_7d"], [0.15, -0.3, 0.15, np.nan, -0.3, -0.5, 0.4, -0.5]
    )
    assert set(market.feature_names(PARAMS)) <= set(out.columns)


def test_rank_is_pandas_percentile_rank_on_random_days():
    rng = np.random.default_rng(5)
    n = 3000
    rows = pd.DataFrame(
        {
            "date": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 20, n), "D"),
            "pool": [f"p{i}" for i in range(n)],
            # Few distinct values: many ties.
            "apy": rng.integers(0, 30, n).astype(float),
        }
    )
    rows.loc[rng.random(n) < 0.1, "apy"] = np.nan
    apys = rows.dropna().sort_values(["date", "apy"])
    expected = rows.groupby("date")["apy"].rank(method="average", pct=True)
    np.testing.assert_allclose(market._pct_rank(rows, apys), expected.to_numpy())


def test_stored_context_scores_a_few_pools_against_the_whole_market():
    rows = _rows()
    day2 = rows.loc[rows["date"] == "2025-01-02"].reset_index(drop=True)
    whole = market.add_features(day2, PARAMS)
    stored = market.from_records(market.to_records(market.summarise(day2, PARAMS)))
    # The next day, one pool asks alone, at the same values: the market is the stored one.
    alone = day2.iloc[[1]].assign(date=pd.Timestamp("2025-01-03"))
    scored = market.apply(alone, market.restamp(stored, pd.Timestamp("2025-01-03")), PARAMS)
    names = market.feature_names(PARAMS)
    pd.testing.assert_frame_equal(
        scored[names].reset_index(drop=True), whole.iloc[[1]][names].reset_index(drop=True)
    )
    # Against itself only, the pool would be the whole market: rank 1, at its own median.
    own = market.add_features(alone, PARAMS)
    assert own["mkt_apy_rel_median"].iloc[0] == 0.0 != scored["mkt_apy_rel_median"].iloc[0]
    # The pool's own stored APY (4) is replaced by the one it sends: 1 ranks 2nd of 0, 1, 2.
    later = market.restamp(stored, pd.Timestamp("2025-01-03"))
    new = alone.assign(apy=1.0, project="unknown")
    out = market.apply(new, later, PARAMS)
    assert out["mkt_apy_pct_rank"].iloc[0] == pytest.approx(2 / 3)
    assert np.isnan(out["project_median_apy_logchg_7d"].iloc[0])
    # Above every pool it ranks 1, never more; a pool new to the market joins it (4 pools).
    top = market.apply(alone.assign(apy=50.0), later, PARAMS)["mkt_apy_pct_rank"].iloc[0]
    newcomer = market.apply(alone.assign(pool="x", apy=50.0), later, PARAMS)
    assert top == 1.0 and newcomer["mkt_apy_pct_rank"].iloc[0] == 1.0
    middle = market.apply(alone.assign(pool="x", apy=3.0), later, PARAMS)
    assert middle["mkt_apy_pct_rank"].iloc[0] == pytest.approx(3 / 4)


def test_no_market_gives_no_context_features():
    empty = market.from_records(market.to_records(market.summarise(_rows().iloc[:0], PARAMS)))
    out = market.apply(_rows(), empty, PARAMS)
    assert out[market.feature_names(PARAMS)].isna().all().all()


def test_a_stored_context_holds_one_date():
    with pytest.raises(ValueError, match="holds one date, this one holds 2"):
        market.restamp(market.summarise(_rows(), PARAMS), pd.Timestamp("2025-01-03"))
    with pytest.raises(ValueError, match="lacks its chain table"):
        market.from_records({"apy": [], "market": [], "project": []})
