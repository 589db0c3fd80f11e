"""Tests of the shared daily feature code: values on known series and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import load_parameters
from yield_runway.features import daily

TARGET = load_parameters()["target"]


def _grid(
    apy: list[float | None], pool: str = "p1", tvl: list[float] | None = None
) -> pd.DataFrame:
    """A one-pool daily grid starting 2025-01-01; None marks an unobserved day."""
    values = np.array([np.nan if a is None else a for a in apy], dtype=float)
    return pd.DataFrame(
        {
            "pool": pool,
            "date": pd.date_range("2025-01-01", periods=len(apy), freq="D"),
            "chain": "Ethereum",
            "project": "aave-v3",
            "apy": values,
            "apyReward": np.nan,
            "tvlUsd": np.full(len(apy), 100.0) if tvl is None else np.array(tvl, dtype=float),
            "observed": ~np.isnan(values),
            "stablecoin": 1.0,
            "ilRisk": 0.0,
            "exposure": 0.0,
        }
    )


@pytest.fixture
def fe_params(parameters) -> dict:
    return parameters["feature_engineering"]


def test_expanding_stats_skip_unobserved_days():
    out = daily.expanding_features(_grid([2.0, None, 4.0, 9.0]))
    assert out["n_samples"].tolist() == [1, 1, 2, 3]
    np.testing.assert_allclose(out["apyMeanExpanding"], [2.0, 2.0, 3.0, 5.0])
    # One sample has no sample std: the contract says 0, not NaN.
    np.testing.assert_allclose(
        out["apyStdExpanding"], [0.0, 0.0, np.std([2, 4], ddof=1), np.std([2, 4, 9], ddof=1)]
    )


def test_rolling_windows_count_days_not_rows():
    apy = [1.0, 2.0, None, None, None, None, None, None, 10.0]
    out = daily.window_features(_grid(apy), [7], [1, 7], {"mean": 1, "median": 1, "std": 2})
    # Day 9's 7-day window (days 3..9) holds only day 9's own value.
    assert out["apy_mean_7d"].iloc[8] == 10.0
    assert np.isnan(out["apy_std_7d"].iloc[8])
    assert out["apy_mean_7d"].iloc[1] == 1.5 and out["apy_median_7d"].iloc[1] == 1.5
    # Changes look back calendar days: day 8 (lag 7) is day 1, lag 1 (day 8) is missing.
    assert out["apy_logchg_7d"].iloc[8] == pytest.approx(np.log(11 / 3))
    assert np.isnan(out["apy_logchg_1d"].iloc[8])
    assert out["apy_rel_mean_7d"].iloc[1] == pytest.approx(np.log(3 / 2.5))


def test_windows_do_not_cross_pools():
    frame = pd.concat([_grid([1.0, 1.0]), _grid([100.0, 100.0], pool="p2")], ignore_index=True)
    out = daily.window_features(frame, [7], [1], {"mean": 1, "median": 1, "std": 2})
    assert out["apy_mean_7d"].tolist() == [1.0, 1.0, 100.0, 100.0]
    assert np.isnan(out["apy_logchg_1d"].iloc[2])


def test_point_features():
    frame = daily.expanding_features(_grid([4.0, 0.0, None]))
    frame["apyReward"] = [1.0, 0.0, np.nan]
    out = daily.point_features(frame)
    assert out["reward_share"].iloc[0] == 0.25 and out["reward_share"].iloc[1] == 0.0
    assert np.isnan(out["reward_share"].iloc[2])
    assert out["pool_age_days"].tolist() == [0, 1, 2]


def test_categorical_codes_follow_first_appearance_and_unknown_is_minus_one():
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-02", "2025-01-05", "2025-01-01", "2025-01-02"]),
            "chain": ["Solana", "Base", "Solana", "Arbitrum"],
            "project": ["b", "a", None, "c"],
        }
    )
    columns = {"chain": "chain_factorized", "project": "project_factorized"}
    mapping = daily.fit_categorical_mapping(frame, columns)
    # Solana first (01-01), then Arbitrum (01-02), then Base (01-05); ties go by name.
    assert mapping == {
        "chain_factorized": {"Solana": 0, "Arbitrum": 1, "Base": 2},
        "project_factorized": {"b": 0, "c": 1, "a": 2},
    }
    # A later category takes the next code: no earlier code moves.
    later = pd.concat(
        [frame, pd.DataFrame({"date": [pd.Timestamp("2025-02-01")], "chain": ["Aptos"]})]
    )
    grown = daily.fit_categorical_mapping(later, columns)["chain_factorized"]
    assert grown == {"Solana": 0, "Arbitrum": 1, "Base": 2, "Aptos": 3}
    new = pd.DataFrame({"chain": ["Base", "Sui"], "project": ["b", None]})
    out = daily.encode_categoricals(new, mapping, columns)
    assert out["chain_factorized"].tolist() == [2, -1]
    assert out["project_factorized"].tolist() == [0, -1]


def _random_grid(seed: int) -> pd.DataFrame:
    """Three pools of random APY/TVL with gaps, on daily grids of different lengths."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, n in enumerate([90, 60, 75]):
        apy = rng.lognormal(1.5, 0.7, n)
        apy[rng.random(n) < 0.15] = np.nan
        apy[0] = apy[-1] = 3.0
        frame = _grid(list(apy), pool=f"p{i}", tvl=list(rng.lognormal(12, 1, n)))
        frame["date"] += pd.Timedelta(days=5 * i)
        frame["apyReward"] = apy * rng.random(n)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_features_are_strictly_backward_looking(fe_params):
    """Changing every value after day d moves no feature on or before day d."""
    grid = _random_grid(1)
    mapping = daily.fit_categorical_mapping(grid, fe_params["categorical_columns"])
    names = daily.feature_names(fe_params)
    before = daily.build_features(grid, mapping, fe_params, TARGET)
    cutoff = pd.Timestamp("2025-02-10")
    future = grid["date"] > cutoff
    changed = grid.copy()
    rng = np.random.default_rng(2)
    for column in ("apy", "apyReward", "tvlUsd"):
        changed.loc[future, column] = rng.lognormal(3, 2, future.sum())
    after = daily.build_features(changed, mapping, fe_params, TARGET)
    past = ~future.to_numpy()
    pd.testing.assert_frame_equal(before.loc[past, names], after.loc[past, names])
    # The perturbation is real: features after the cutoff did move.
    assert not before.loc[~past, names].equals(after.loc[~past, names])


def test_build_features_produces_every_listed_feature(fe_params):
    grid = _random_grid(3)
    mapping = daily.fit_categorical_mapping(grid, fe_params["categorical_columns"])
    out = daily.build_features(grid, mapping, fe_params, TARGET)
    names = daily.feature_names(fe_params)
    assert names[:6] == daily.ORIGINAL_FEATURES
    assert len(names) == len(set(names)) and set(names) <= set(out.columns)
    assert out.loc[out["observed"], "apy"].notna().all()


def _groupby_features(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The same statistics the way pandas' groupby computes them: the oracle."""
    by_pool = frame.groupby("pool", sort=False)["apy"]
    out = {
        "apy_mean_3d": by_pool.rolling(3, min_periods=1).mean().droplevel(0),
        "apy_median_3d": by_pool.rolling(3, min_periods=1).median().droplevel(0),
        "apy_std_3d": by_pool.rolling(3, min_periods=2).std().droplevel(0),
        "apyMeanExpanding": by_pool.expanding(min_periods=1).mean().droplevel(0),
        "apyStdExpanding": by_pool.expanding(min_periods=2).std().droplevel(0).fillna(0.0),
        "n_samples": frame["apy"].notna().groupby(frame["pool"], sort=False).cumsum(),
        "apy_shift_2": by_pool.shift(2),
    }
    return {name: values.reindex(frame.index) for name, values in out.items()}


@pytest.mark.parametrize("order", ["grouped", "shuffled", "sorted"])
def test_pool_windows_match_pandas_groupby(order):
    rng = np.random.default_rng(3)
    pools = np.repeat(["b", "a", "c", "d"], [9, 1, 5, 12])
    apy = rng.lognormal(1.0, 1.0, len(pools))
    apy[rng.random(len(pools)) < 0.3] = np.nan
    dates = pd.Series(
        pd.to_datetime("2025-01-01") + pd.to_timedelta(rng.integers(0, 60, len(pools)), "D")
    )
    dates[rng.random(len(pools)) < 0.2] = pd.NaT
    frame = pd.DataFrame(
        {"pool": pools, "date": dates, "apy": apy, "tvlUsd": rng.lognormal(10, 1, len(pools))}
    )
    if order == "shuffled":  # rows of a pool apart and out of order: groups as groupby makes them
        frame = frame.sample(frac=1.0, random_state=0)
    elif order == "sorted":  # pools sorted: groups are runs of rows, found without hashing
        frame = frame.sort_values("pool", kind="stable")
    expected = _groupby_features(frame)

    min_periods = {"mean": 1, "median": 1, "std": 2}
    windows = daily.window_features(frame, [3], [2], min_periods, threads=2)
    expanding = daily.expanding_features(frame)
    for name in ("apy_mean_3d", "apy_median_3d", "apy_std_3d"):
        pd.testing.assert_series_equal(windows[name], expected[name], check_names=False)
    for name in ("apyMeanExpanding", "apyStdExpanding", "n_samples"):
        pd.testing.assert_series_equal(
            expanding[name], expected[name], check_names=False, check_dtype=False
        )
    shifted = np.log1p(frame["apy"]) - np.log1p(expected["apy_shift_2"])
    pd.testing.assert_series_equal(windows["apy_logchg_2d"], shifted, check_names=False)
    first_day = daily.PoolGroups.of(frame["pool"]).first_day(frame["date"])
    expected_first = frame.groupby("pool", sort=False)["date"].transform("min")
    pd.testing.assert_series_equal(first_day, expected_first, check_names=False)
    # Checked by hand: pool "c"'s first two rows (in frame order) have no value 2 rows back.
    first_c = frame.index[frame["pool"] == "c"][:2]
    assert windows.loc[first_c, "apy_logchg_2d"].isna().all()


def test_pool_date_order_is_what_a_stable_sort_leaves():
    frame = pd.DataFrame(
        {
            "pool": ["a", "a", "b", "b", "c"],
            "date": pd.to_datetime(
                ["2025-01-01", "2025-01-02", "2025-01-01", "2025-01-01", "2024-01-01"]
            ),
        }
    )
    assert daily.in_pool_date_order(frame)  # equal dates (a stable sort keeps them) are in order
    assert not daily.in_pool_date_order(frame.iloc[[0, 2, 1, 3, 4]])  # pools not sorted
    assert not daily.in_pool_date_order(frame.iloc[[1, 0, 2, 3, 4]])  # a pool's dates back
    with_nat = frame.assign(date=frame["date"].where(frame.index != 4))
    assert not daily.in_pool_date_order(with_nat)  # a sort would put the missing date last
    missing_pool = frame.assign(pool=frame["pool"].where(frame.index != 4))
    assert not daily.in_pool_date_order(missing_pool)


def test_realised_target_is_the_label_of_the_day_a_horizon_back():
    # Horizon 2, point target: day d's label compares day d+2 with day d.
    target = {**TARGET, "horizon_days": 2, "future_stat": "point", "min_future_samples": 1}
    grid = _grid([4.0, 4.0, 2.0, 5.0, None, 1.0, 1.0])
    realised = daily.realised_target(grid, target)
    # Labels: day0 2/4 -> Down, day1 5/4 -> Up, day2 unobserved future (day4) -> none,
    # day3 1/5 -> Down, day4 no apy -> none; realised on day d is the label of day d-2.
    np.testing.assert_array_equal(realised, [np.nan, np.nan, 0.0, 1.0, np.nan, 0.0, np.nan])
    # Known on its day: changing the days after d moves nothing on or before d.
    changed = grid.assign(apy=grid["apy"].where(grid.index <= 3, 100.0))
    np.testing.assert_array_equal(daily.realised_target(changed, target)[:4], realised[:4])


def test_rolling_std_is_exact_after_a_spike_leaves_the_window():
    """pandas' sliding variance keeps a spike's rounding: a 10,000% day, then a flat week."""
    apy = np.array([3.0, 1e4, 5.0, *np.linspace(3.0, 3.0006, 9)])
    frame = pd.DataFrame({"pool": "p", "apy": apy, "tvlUsd": 1.0})
    std = daily.window_features(frame, [7], [1], {"mean": 1, "median": 1, "std": 2})["apy_std_7d"]
    last_week = apy[-7:]
    assert std.iloc[-1] == pytest.approx(np.std(last_week, ddof=1), rel=1e-12)
    sliding = frame["apy"].rolling(7, min_periods=2).std().iloc[-1]
    assert abs(sliding / np.std(last_week, ddof=1) - 1) > 1e-3  # the check can fail
    # Early rows: as many days as there are, NaN below two.
    assert np.isnan(std.iloc[0]) and std.iloc[1] == pytest.approx(np.std(apy[:2], ddof=1))
