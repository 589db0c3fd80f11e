"""Tests for the deterministic sample data generator."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from yield_runway.sample_data.__main__ import main
from yield_runway.sample_data.generator import (
    ABSURD_APY,
    HISTORY_COLUMNS,
    HISTORY_FILE,
    SNAPSHOT_FIELDS,
    SNAPSHOT_FILE,
    SampleSpec,
    build_world,
    format_timestamps,
    generate,
    iter_history,
    pools_for_rows,
    world_snapshot,
    write,
)

SPEC = SampleSpec(n_pools=40, start="2025-01-01", end="2025-02-14", cadence="sample", seed=3)
TS_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


def _read(path: Path) -> pd.DataFrame:
    """Raw history as text, nulls only for empty fields."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _clean(raw: pd.DataFrame) -> pd.DataFrame:
    """Minimal cleaning: parseable rows, sane APY, no exact duplicates."""
    df = raw.drop_duplicates().copy()
    df["ts"] = pd.to_datetime(df["timestamp"], format="%Y-%m-%dT%H:%M:%S.%fZ", errors="coerce")
    for col in ("tvlUsd", "apy", "apyBase", "apyReward"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    ok = df["ts"].notna() & df["pool"].notna() & df["apy"].between(0, ABSURD_APY)
    return df[ok]


def _daily(clean: pd.DataFrame) -> pd.DataFrame:
    """Last snapshot per pool and calendar day."""
    df = clean.assign(date=clean["ts"].dt.floor("D")).sort_values("ts", kind="stable")
    return df.groupby(["pool", "date"], as_index=False).last()


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    write(SPEC, out)
    return out


@pytest.fixture(scope="module")
def raw(sample_dir: Path) -> pd.DataFrame:
    return _read(sample_dir / HISTORY_FILE)


@pytest.fixture(scope="module")
def snapshot(sample_dir: Path) -> list[dict]:
    return json.loads((sample_dir / SNAPSHOT_FILE).read_text())


def test_same_seed_same_bytes_and_other_seed_differs(sample_dir: Path, tmp_path: Path) -> None:
    write(SPEC, tmp_path / "again")
    other = SampleSpec(SPEC.n_pools, SPEC.start, SPEC.end, SPEC.cadence, seed=4)
    write(other, tmp_path / "other")
    for name in (HISTORY_FILE, SNAPSHOT_FILE):
        first = (sample_dir / name).read_bytes()
        assert first == (tmp_path / "again" / name).read_bytes()
        assert first != (tmp_path / "other" / name).read_bytes()
    # gzip header carries no timestamp or file name, so bytes do not depend on when/where.
    header = (sample_dir / HISTORY_FILE).read_bytes()[:10]
    assert header[3] == 0 and header[4:8] == b"\x00\x00\x00\x00"


def test_header_and_timestamp_format(sample_dir: Path, raw: pd.DataFrame) -> None:
    with gzip.open(sample_dir / HISTORY_FILE, "rt") as fh:
        assert fh.readline().strip() == ",".join(HISTORY_COLUMNS)
    assert list(raw.columns) == HISTORY_COLUMNS
    parsed = pd.to_datetime(raw["timestamp"], format="%Y-%m-%dT%H:%M:%S.%fZ", errors="coerce")
    good = raw["timestamp"].fillna("").str.match(TS_RE) & parsed.notna()
    assert 1 <= (~good).sum() <= 0.01 * len(raw)
    ts = parsed[good]
    assert ts.is_monotonic_increasing
    assert ts.min() >= pd.Timestamp(SPEC.start)
    assert ts.max() < pd.Timestamp(SPEC.end) + pd.Timedelta(days=1)
    assert raw["pool"].dropna().str.match(r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$").all()


def test_apy_is_base_plus_reward(raw: pd.DataFrame) -> None:
    num = raw[["apy", "apyBase", "apyReward"]].apply(pd.to_numeric, errors="coerce")
    both = num.notna().all(axis=1)
    assert both.sum() > 100
    np.testing.assert_allclose(
        num.loc[both, "apy"], num.loc[both, "apyBase"] + num.loc[both, "apyReward"], atol=1e-9
    )
    # Pools without rewards carry a null apyReward, and base-only rows have apy == apyBase.
    base_only = num["apyReward"].isna() & num["apyBase"].notna() & num["apy"].notna()
    assert base_only.sum() > 100
    np.testing.assert_allclose(num.loc[base_only, "apy"], num.loc[base_only, "apyBase"])


def test_every_kind_of_bad_row_is_present_and_rare(raw: pd.DataFrame) -> None:
    apy = pd.to_numeric(raw["apy"], errors="coerce")
    kinds = {
        "nan_apy": raw["apy"].isna(),
        "text_apy": raw["apy"].notna() & apy.isna(),
        "negative_apy": apy < 0,
        "absurd_apy": apy >= ABSURD_APY,
        "missing_pool": raw["pool"].isna(),
        "bad_timestamp": pd.to_datetime(raw["timestamp"], errors="coerce", format="ISO8601").isna(),
        "duplicate": raw.duplicated(),
    }
    for name, mask in kinds.items():
        assert 1 <= mask.sum() <= 0.02 * len(raw), name
    assert set(raw.loc[kinds["text_apy"], "apy"]) <= {"N/A", "error", "1.2.3%"}


def test_clean_rows_are_plausible(raw: pd.DataFrame) -> None:
    clean = _clean(raw)
    assert len(clean) > 0.97 * len(raw)
    assert (clean["tvlUsd"] > 0).all()
    assert clean["apy"].max() < 50_000
    assert (clean["apy"] == 0).any()
    per_pool_reward = clean.groupby("pool")["apyReward"].max()
    assert per_pool_reward.isna().any() and (per_pool_reward > 0).any()


def test_faults_only_add_rows() -> None:
    faulty, snap_faulty = generate(20, "2025-01-01", "2025-01-20", "sample", seed=5)
    clean, snap_clean = generate(20, "2025-01-01", "2025-01-20", "sample", seed=5, faults=False)
    assert len(faulty) > len(clean)
    kept = faulty.loc[_clean(faulty).index].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, clean)
    assert snap_faulty == snap_clean


def test_snapshot_keys_and_types(snapshot: list[dict]) -> None:
    assert len(snapshot) > 20
    for rec in snapshot:
        assert list(rec) == SNAPSHOT_FIELDS
        assert rec["predictions"] == {
            "predictedClass": None,
            "predictedProbability": None,
            "binnedConfidence": None,
        }
        assert rec["ilRisk"] in ("yes", "no") and rec["exposure"] in ("single", "multi")
        assert isinstance(rec["stablecoin"], bool) and isinstance(rec["outlier"], bool)
        multi = "-" in rec["symbol"]
        assert rec["exposure"] == ("multi" if multi else "single")
        assert rec["ilRisk"] == ("yes" if multi and not rec["stablecoin"] else "no")
        if rec["apyBase"] is not None and rec["apyReward"] is not None:
            assert rec["apy"] == pytest.approx(rec["apyBase"] + rec["apyReward"], abs=1e-9)
    projects = {r["project"] for r in snapshot if "lend" in r["project"]}
    assert all(r["exposure"] == "single" for r in snapshot if r["project"] in projects)
    assert any(r["count"] < 7 for r in snapshot)
    assert any(r["apyBase"] is None for r in snapshot) or any(r["il7d"] is None for r in snapshot)


def test_snapshot_matches_history(raw: pd.DataFrame, snapshot: list[dict]) -> None:
    daily = _daily(_clean(raw))
    stats = daily.groupby("pool")["apy"].agg(["mean", "std", "count"])
    snap = pd.DataFrame(snapshot).set_index("pool")
    assert snap.index.isin(stats.index).all()
    got = stats.loc[snap.index]
    np.testing.assert_array_equal(snap["count"], got["count"])
    np.testing.assert_allclose(snap["mu"], got["mean"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(snap["sigma"], got["std"].fillna(0.0), rtol=1e-6, atol=1e-6)
    last_day = daily[daily["date"] == pd.Timestamp(SPEC.end)].set_index("pool")["apy"]
    has_last = snap.index.intersection(last_day.index)
    np.testing.assert_allclose(
        snap.loc[has_last, "apyPct1D"], snap.loc[has_last, "apy"] - last_day[has_last], atol=1e-5
    )


def test_dead_pools_are_not_in_snapshot() -> None:
    world = build_world(SampleSpec(60, "2025-01-01", "2025-03-31", "sample", seed=1))
    rows = pa.concat_tables(list(iter_history(world))).to_pandas()
    snap_pools = {r["pool"] for r in world_snapshot(world)}
    dead = world.daily.alive_end <= world.spec.n_days
    assert dead.any() and (~dead).any()
    dead_ids = set(world.pools.table["pool"][dead])
    assert snap_pools.isdisjoint(dead_ids)
    assert snap_pools == set(world.pools.table["pool"][~dead])
    # Dead pools do have history, and it stops before the window ends.
    last_ts = rows.dropna(subset=["pool"]).groupby("pool")["timestamp"].max()
    assert (last_ts[list(dead_ids & set(last_ts.index))] < world.spec.end).all()


def test_hourly_cadence_is_one_row_per_pool_hour() -> None:
    history, _ = generate(8, "2025-03-01", "2025-03-05", "hourly", seed=2, faults=False)
    ts = pd.to_datetime(history["timestamp"], format="%Y-%m-%dT%H:%M:%S.%fZ")
    hours = pd.DataFrame({"pool": history["pool"], "hour": ts.dt.floor("h")})
    assert not hours.duplicated().any()
    per_day = hours.assign(day=hours["hour"].dt.floor("D")).groupby(["pool", "day"]).size()
    assert (per_day == 24).all()
    assert ts.is_monotonic_increasing


def test_format_timestamps_matches_numpy() -> None:
    ms = np.array([0, 1_735_689_600_000, 1_740_834_041_123, 1_761_955_199_999])
    expected = [s + "Z" for s in np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms")]
    assert [b.decode() for b in format_timestamps(ms)] == expected


def test_cli_and_rows_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = SampleSpec(start="2025-01-01", end="2025-01-31", cadence="hourly")
    n = pools_for_rows(50_000, spec)
    args = ["--rows", "50000", "--cadence", "hourly", "--end", "2025-01-31", "--no-faults"]
    main([*args, "--out", str(tmp_path)])
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_pools"] == n
    assert 35_000 <= summary["rows"] <= 65_000
    assert re.match(TS_RE, _read(tmp_path / HISTORY_FILE)["timestamp"].iloc[0])
