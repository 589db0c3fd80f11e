"""Nodes of the data_engineering pipeline: one Ibis definition of cleaning, daily aggregation and
the daily grid, run by the engine the catalog connects (DuckDB here, PySpark past one machine)."""

from __future__ import annotations

import logging
import math
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis import _

from yield_runway.contracts import DAILY_VALUE_COLUMNS, POOL_ATTRIBUTE_COLUMNS

logger = logging.getLogger(__name__)

AGGREGATIONS = ("last", "mean", "median")
# Each bad row is counted once, under the first reason that applies, in this order.
REASONS = (
    "missing_pool",
    "unparsable_timestamp",
    "missing_apy",
    "non_numeric_apy",
    "negative_apy",
    "absurd_apy",
    "invalid_tvl",
)
UTC = "timestamp('UTC')"


# Python's str.strip() whitespace, spelled for both RE2 (DuckDB) and Java (Spark): `\s` alone
# misses \x0b, \x85 and the Unicode spaces, differently in each.
WHITESPACE = r"[\s\x{0B}\x{1C}-\x{1F}\x{85}\p{Z}]"


def _strip(text: ir.StringValue) -> ir.StringValue:
    """Text without leading and trailing whitespace.

    A regular expression, not Ibis' `strip()`: on Spark that trims the letters v and f too.
    """
    return text.re_replace(f"^{WHITESPACE}+|{WHITESPACE}+$", "")


def _blank(text: ir.StringValue) -> ir.BooleanValue:
    """True where a raw text value is null, empty or the text 'nan' (spaces aside)."""
    stripped = _strip(text)
    # Only short texts can be blank: the lowercase test runs on those alone.
    return text.isnull() | ibis.ifelse(
        stripped.length() <= 3, stripped.lower().isin(["", "nan"]), False
    )


def _cast(text: ir.StringValue) -> ir.FloatingValue:
    """Text cast to a float, null where it does not parse (DuckDB's digit separators too)."""
    return ibis.ifelse(text.contains("_"), ibis.null("float64"), text.try_cast("float64"))


def _number(text: ir.StringValue) -> ir.FloatingValue:
    """Text as a float; anything unparsable (NaN included) is null, as pandas' NaN would be."""
    value = _cast(text)
    return ibis.ifelse(value.isnan(), ibis.null("float64"), value)


def _apy_reading(text: ir.StringValue) -> ir.FloatingValue:
    """APY text as a float; NaN where blank and null where not a number (two reasons to drop)."""
    value = _cast(text)
    # Blankness is only asked of the texts that are not numbers.
    return ibis.ifelse(
        value.notnull() & ~value.isnan(),
        value,
        ibis.ifelse(_blank(text), ibis.literal(float("nan")), ibis.null("float64")),
    )


def _instant(text: ir.StringValue, window: list[str]) -> ir.TimestampValue:
    """Text as a UTC instant; null when unparsable or outside the plausible [first, last)."""
    value = text.try_cast(UTC)
    first, last = (ibis.timestamp(pd.Timestamp(t, tz="UTC")) for t in window)
    return ibis.ifelse((value >= first) & (value < last), value, ibis.null(UTC))


def _known(value: ir.FloatingValue) -> ir.FloatingValue:
    """A finite non-negative component as is, anything else unknown (null), keeping the row."""
    return ibis.ifelse(value.notnull() & ~value.isinf() & (value >= 0), value, ibis.null("float64"))


def read_snapshots(pools_history: ir.Table, params: dict[str, Any]) -> ir.Table:
    """Each distinct snapshot as read, how often it occurs, and the code of the reason it is
    dropped for (`REASONS[code - 1]`; null when clean): one pass over the raw history.

    Exact duplicates are rows equal in every column as read (texts as is, instants, numbers):
    each distinct reading is kept once, its other occurrences count as `duplicate_row`.
    """
    required = list(params["required_columns"])
    missing = [c for c in required if c not in pools_history.columns]
    if missing:
        raise ValueError(
            f"pools_history is missing required column(s): {', '.join(missing)}; "
            f"found: {', '.join(pools_history.columns)} (an empty file, or another header?)"
        )
    raw = pools_history
    optional = {
        c: _number(raw[c]) if c in raw.columns else ibis.null("float64")
        for c in params["optional_numeric_columns"]
    }
    readings = raw.group_by(
        pool_text=raw.pool,
        **{a: raw[a] for a in POOL_ATTRIBUTE_COLUMNS},
        ts=_instant(raw.timestamp, params["timestamp_window"]),
        apy=_apy_reading(raw.apy),
        tvlUsd=_number(raw.tvlUsd),
        **optional,
    ).agg(n=_.count())
    apy, tvl = readings.apy, readings.tvlUsd
    tests = (
        _blank(readings.pool_text),
        readings.ts.isnull(),
        apy.isnan(),
        apy.isnull() | apy.isinf(),
        apy < 0,
        apy > params["apy_max"],
        tvl.isnull() | tvl.isinf() | (tvl < 0),
    )
    codes = [ibis.literal(code, "int8") for code in range(1, len(REASONS) + 1)]
    return readings.select(
        *POOL_ATTRIBUTE_COLUMNS,
        pool=_strip(readings.pool_text),
        ts=readings.ts,
        apy=apy,
        tvlUsd=tvl,
        **{c: _known(readings[c]) for c in optional},
        n=readings.n,
        reason=ibis.cases(*zip(tests, codes, strict=True), else_=ibis.null("int8")),
    )


def malformed_rows(snapshot_readings: ir.Table) -> list[dict[str, Any]]:
    """Rows the engine's reader skipped, reading the history: line, problem and text.

    DuckDB keeps them in its `reject_errors` table (catalog load_args `store_rejects`) until
    its next read of a CSV; an engine that keeps none reports none.
    """
    backend = snapshot_readings._find_backend()
    if "reject_errors" not in backend.list_tables():
        return []
    rejects = backend.table("reject_errors")
    # The last scan's, once per line (each of the reader's passes over a bad line records it).
    last = rejects.filter(rejects.scan_id == rejects.scan_id.max())
    rows = last.group_by("scan_id", "file_id", "line").agg(
        problem=_.error_message.min(), text=_.csv_line.min()
    )
    rows = rows.join(backend.table("reject_scans"), ["scan_id", "file_id"])
    return [
        {
            "file": r.file_path,
            "line": int(r.line),
            "problem": r.problem.split("\n")[0],
            "text": r.text,
        }
        for r in rows.order_by("line").to_pandas().itertuples()
    ]


def _quantile(values: ir.FloatingValue, n: int, q: float) -> float:
    """The exact linear q-quantile of `n` values, to the bit NumPy's (and pandas') default.

    The engine finds the two order statistics it lies between; NumPy's own interpolation of that
    pair at the same weight gives NumPy's float (the engines round the interpolation otherwise).
    """
    near = float(values.quantile(q).execute())
    pair = values.as_table().aggregate(
        low=values.max(where=values <= near), high=values.min(where=values >= near)
    )
    low, high = pair.to_pandas().iloc[0]
    weight = (n - 1) * q - math.floor((n - 1) * q)
    return float(np.quantile(np.array([low, high], dtype=float), weight))


def summarise_cleaning(
    snapshot_readings: ir.Table, malformed: list[dict[str, Any]], params: dict[str, Any]
) -> dict[str, Any]:
    """Count the rows dropped by reason and find the exact APY outlier cap."""
    counts = snapshot_readings.group_by("reason").agg(rows=_.n.sum(), distinct=_.count())
    counts = counts.to_pandas()
    by_code = dict(zip(counts["reason"], counts["distinct"], strict=True))
    n_clean = int(counts.loc[counts["reason"].isna(), "distinct"].sum())
    dropped = {
        "duplicate_row": int((counts["rows"] - counts["distinct"]).sum()),
        **{r: int(by_code.get(code, 0)) for code, r in enumerate(REASONS, 1)},
        "malformed_row": len(malformed),
    }
    rows_raw = int(counts["rows"].sum()) + len(malformed)
    cap, n_outliers = None, 0
    if n_clean:
        clean = snapshot_readings.filter(_.reason.isnull())
        cap = _quantile(clean.apy, n_clean, params["apy_outlier_quantile"])
        n_outliers = int(clean.filter(_.apy > cap).count().execute())
    dropped["apy_outlier"] = n_outliers
    rows_clean = n_clean - n_outliers
    if not rows_clean:
        # Nothing to train on: say why, before an empty grid or an infinite APY cap is written.
        reasons = ", ".join(f"{k}={v}" for k, v in dropped.items() if v) or "the file has no row"
        raise ValueError(
            f"pools_history has no usable row: {rows_raw:,} rows read, all dropped ({reasons})"
        )
    for row in malformed[:5]:
        logger.warning("%s line %s: %s; row dropped: %r", *row.values())
    logger.info(
        "Cleaned pools_history: kept %d of %d rows; dropped %s (APY outlier cap %.4g%%)",
        rows_clean,
        rows_raw,
        ", ".join(f"{k}={v}" for k, v in dropped.items()),
        cap,
    )
    return {
        "rows_raw": rows_raw,
        "rows_clean": rows_clean,
        "rows_dropped": rows_raw - rows_clean,
        "dropped_by_reason": dropped,
        "apy_outlier_cap": cap,
        "malformed_rows": malformed,
    }


# DuckDB's and Spark's own `max_by`: the value at the largest key, a hash aggregate. (A struct's
# max would break ties of the key by value, but its per-group states are not bounded by DuckDB's
# memory limit: 11.7 GB at 100M rows.)
@ibis.udf.agg.builtin(name="max_by")
def _max_by_text(value: dt.string, key: dt.Timestamp(timezone="UTC")) -> dt.string:
    """The text at the latest instant."""


@ibis.udf.agg.builtin(name="max_by")
def _max_by_number(value: dt.float64, key: dt.Timestamp(timezone="UTC")) -> dt.float64:
    """The number at the latest instant."""


def _latest(value: ir.Value, ts: ir.TimestampValue) -> ir.Value:
    """The value at the latest instant where it is known (pandas' `last()`). Two readings of one
    pool at one instant (a conflict; none in the sample or the real slice) are the engine's pick."""
    latest = _max_by_text if value.type().is_string() else _max_by_number
    return latest(value, ts, where=value.notnull())


def reduce_to_days(
    snapshot_readings: ir.Table, cleaning_report: dict[str, Any], params: dict[str, Any]
) -> ir.Table:
    """Reduce the clean snapshots (outliers dropped) to one row per pool and UTC calendar day,
    each with its pool's latest known chain, project and symbol."""
    how = params["daily_aggregation"]
    if how not in AGGREGATIONS:
        raise ValueError(f"daily_aggregation must be last, mean or median, got {how!r}")
    rows = snapshot_readings.filter(_.reason.isnull(), _.apy <= cleaning_report["apy_outlier_cap"])
    values = [c for c in DAILY_VALUE_COLUMNS if c in rows.columns]
    reducers = {
        "last": lambda v: _latest(rows[v], rows.ts),
        "mean": lambda v: rows[v].mean(),
        "median": lambda v: rows[v].median(),
    }
    days = rows.group_by("pool", date=rows.ts.date()).agg(**{v: reducers[how](v) for v in values})
    # A pool's chain, project and symbol: its latest known ones.
    # The same rows, filtered apart: a subquery both aggregations shared would become a CTE,
    # which DuckDB materialises whole (every clean reading) before either aggregation runs.
    same = snapshot_readings.filter(_.apy <= cleaning_report["apy_outlier_cap"], _.reason.isnull())
    attributes = same.group_by("pool").agg(
        **{a: _latest(same[a], same.ts) for a in POOL_ATTRIBUTE_COLUMNS}
    )
    # Cached (a row per pool-day): the gate and the grid both read it.
    return days.join(attributes, "pool").cache()


def check_history_growth(
    pools_daily_reduced: ir.Table,
    cleaning_report_reduced: dict[str, Any],
    trained_history: dict[str, Any],
    params: dict[str, Any],
) -> tuple[ir.Table, dict[str, Any], dict[str, Any]]:
    """Pass the pool-days and their report on unless the history lost pools against the one the
    model in service was trained on; summarise it for the release.

    A pool is lost when it is gone or its history now ends on an earlier day. A few may go (a
    live ingestion refetches today's top pools, and tolerates failures); more than
    `max_lost_pool_share` of them is a truncated file or an ingestion that lost data.
    """
    ends = pools_daily_reduced.group_by("pool").agg(first=_.date.min(), last=_.date.max())
    ends = ends.order_by("pool").to_pandas()
    last = pd.Series(pd.to_datetime(ends["last"]).dt.strftime("%Y-%m-%d").to_numpy(), ends["pool"])
    summary = {
        "rows_raw": int(cleaning_report_reduced["rows_raw"]),
        "rows_clean": int(cleaning_report_reduced["rows_clean"]),
        "pools": int(len(last)),
        "first_date": str(pd.Timestamp(ends["first"].min()).date()),
        "last_date": str(pd.Timestamp(ends["last"].max()).date()),
        "pool_last_dates": dict(zip(last.index.astype(str), last, strict=True)),
    }
    before = pd.Series(trained_history.get("pool_last_dates", {}), dtype="string")
    if len(before):
        now = last.reindex(before.index.astype(str))
        gone = int(now.isna().sum())
        shorter = int((now.notna() & (now < before.to_numpy())).sum())
        share = (gone + shorter) / len(before)
        if share > params["max_lost_pool_share"]:
            message = (
                f"pools_history lost {gone + shorter:,} of the {len(before):,} pools the model in "
                f"service was trained on ({gone:,} gone, {shorter:,} ending earlier; "
                f"{share:.0%} > data_engineering.max_lost_pool_share "
                f"{params['max_lost_pool_share']:.0%}): a truncated file or an ingestion that "
                "lost data?"
            )
            if not params["allow_shrunk_history"]:
                raise ValueError(
                    f"{message} Training stops; to train on it anyway, run with "
                    "--params=data_engineering.allow_shrunk_history=true"
                )
            logger.warning("%s Trained anyway (allow_shrunk_history)", message)
    report = {**cleaning_report_reduced, "pools": int(len(last))}
    return pools_daily_reduced, report, summary


def derive_observation_limits(
    cleaning_report: dict[str, Any], params: dict[str, Any]
) -> dict[str, float]:
    """The largest APY training kept: serving must not count as observations what it dropped."""
    cap = float(cleaning_report["apy_outlier_cap"])
    return {
        "apy_max": float(params["apy_max"]),
        "apy_outlier_cap": cap,
        "apy_limit": min(float(params["apy_max"]), cap),
    }


def build_daily_grid(pools_daily_observed: ir.Table, pool_metadata: pd.DataFrame) -> ir.Table:
    """Spread the observed pool-days over each pool's run of days, with its metadata."""
    days = pools_daily_observed
    spans = days.group_by("pool").agg(first=_.date.min(), last=_.date.max())
    offsets = spans.select(
        "pool",
        "first",
        offset=ibis.range(0, spans["last"].delta(spans["first"], unit="day") + 1).unnest(),
    )
    grid = offsets.select("pool", date=offsets["first"] + offsets.offset.as_interval("D"))
    attributes = days.select("pool", *POOL_ATTRIBUTE_COLUMNS).distinct()
    metadata = ibis.memtable(pool_metadata.astype({"pool": "string"}))
    out = grid
    # Left joins on the grid's keys, keeping the grid's key columns only.
    for right, keys in (
        (days.drop(*POOL_ATTRIBUTE_COLUMNS), ["pool", "date"]),
        (attributes, ["pool"]),
        (metadata, ["pool"]),
    ):
        out = out.left_join(right, keys).select(
            out, *(right[c] for c in right.columns if c not in keys)
        )
    return out.select(
        "pool",
        date=out.date.cast("timestamp"),
        **{v: out[v] if v in out.columns else ibis.null("float64") for v in DAILY_VALUE_COLUMNS},
        **{a: out[a] for a in POOL_ATTRIBUTE_COLUMNS},
        **{m: out[m] for m in pool_metadata.columns.drop("pool")},
        observed=out.apy.notnull(),
    ).order_by(["pool", "date"])
