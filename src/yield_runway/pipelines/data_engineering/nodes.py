"""Nodes of the data_engineering pipeline."""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from . import partials
from .fingerprint import SeenFingerprints
from .grid import DAILY_VALUE_COLUMNS, POOL_ATTRIBUTE_COLUMNS, daily_grid
from .partials import Rows
from .validation import CleanRows, ParsedBatch, StreamState, parse_batch, resolve_batch

logger = logging.getLogger(__name__)

AGGREGATIONS = ("last", "mean", "median")


def _batches(pools_history: Iterable[pa.RecordBatch] | pd.DataFrame) -> Iterable[pa.RecordBatch]:
    """Arrow batches of text from a lazy CSV (the catalog's) or an in-memory frame (one batch)."""
    if isinstance(pools_history, pd.DataFrame):
        return pa.Table.from_pandas(
            pools_history.astype("string"), preserve_index=False
        ).to_batches()
    return pools_history


def time_window(params: dict[str, Any]) -> tuple[int, int]:
    """The plausible snapshot window [first, last) from parameters, as epoch nanoseconds UTC."""
    first, last = (pd.Timestamp(t, tz="UTC").value for t in params["timestamp_window"])
    return first, last


def _check_columns(names: list[str], required: list[str], name: str) -> None:
    """Raise a ValueError naming every required column that is missing."""
    missing = [column for column in required if column not in names]
    if missing:
        raise ValueError(
            f"{name} is missing required column(s): {', '.join(missing)}; "
            f"found: {', '.join(map(str, names))}"
        )


def _pass(
    pools_history: Iterable[pa.RecordBatch] | pd.DataFrame,
    params: dict[str, Any],
    how: str,
    threshold: float | None,
) -> dict[str, Any]:
    """One pass over the history: validation and partial aggregates of the clean rows.

    Rows with APY above the batch's guard threshold (or above `threshold`, when the outlier cap
    is already known) are kept aside as "suspects" rather than aggregated: the cap is only known
    at the end, and only rows at or below it may enter the daily values.
    """
    batches = iter(_batches(pools_history))
    first = next(batches, None)
    if first is None:
        raise ValueError("pools_history is empty: not even a header row")
    names = list(first.schema.names)
    _check_columns(names, list(params["required_columns"]), "pools_history")
    optional = [c for c in params["optional_numeric_columns"] if c in names]
    state = StreamState(
        list(params["required_columns"]),
        optional,
        params["apy_max"],
        time_window(params),
        # Sized up front when the source can tell its rows (a filter that grows is rebuilt).
        seen=SeenFingerprints(getattr(pools_history, "expected_rows", None)),
    )
    values = [c for c in DAILY_VALUE_COLUMNS if c in ("apy", "tvlUsd", *optional)]
    value_parts, attribute_parts, suspects, clean_apy, guards = [], [], [], [], []
    threads = max(1, int(params["parse_threads"]))
    with ThreadPoolExecutor(threads, thread_name_prefix="history") as pool:
        aggregating: deque = deque()
        for parsed in _parsed(pool, itertools.chain([first], batches), state, threads):
            clean = resolve_batch(parsed, state)
            clean_apy.append(clean.apy)
            rows, suspect, guard = _set_aside_high_apy(clean, threshold, params)
            guards.append(guard)
            if suspect is not None:
                suspects.append(suspect)
            # Partial aggregates depend only on their rows: the pool computes them meanwhile.
            # Collected in batch order, so daily means sum in the same order on every run.
            aggregating.append(pool.submit(_batch_partials, rows, values, how))
            while len(aggregating) > threads:
                _collect(aggregating.popleft(), value_parts, attribute_parts)
                value_parts, attribute_parts = _compact(
                    pool, value_parts, attribute_parts, values, how
                )
        while aggregating:
            _collect(aggregating.popleft(), value_parts, attribute_parts)
        value_parts, attribute_parts = _done(value_parts), _done(attribute_parts)
    return {
        "state": state,
        "values": values,
        "value_parts": value_parts,
        "attribute_parts": attribute_parts,
        "suspects": suspects,
        # 8 bytes per clean row: the exact outlier quantile may need every clean APY value.
        "clean_apy": clean_apy,
        "guard": max(guards, default=-np.inf),
    }


def _set_aside_high_apy(
    clean: CleanRows, threshold: float | None, params: dict[str, Any]
) -> tuple[Rows, Rows | None, float]:
    """Split off rows above the guard (the batch's quantile, or the known cap): rows, suspects.

    With the cap known (`threshold`), rows above it are simply outliers: no suspects are kept.
    """
    apy = clean.apy
    if threshold is not None:
        guard = threshold
    elif len(apy):
        # Any guard keeps the result exact (a guard above the final cap means a second pass):
        # the quantile of every 8th row is as good a guard, at an eighth of the cost.
        guard = float(np.quantile(apy[::8], params["apy_outlier_guard_quantile"]))
    else:
        guard = np.inf
    high = apy > guard
    if not high.any():
        return clean.take(), None, guard
    return clean.take(~high), (clean.take(high) if threshold is None else None), guard


def _take(rows: Rows, mask: np.ndarray) -> Rows:
    """The rows where `mask` is true."""
    return {name: values[mask] for name, values in rows.items()}


def _parsed(
    pool: ThreadPoolExecutor, batches: Iterable[pa.RecordBatch], state: StreamState, ahead: int
) -> Iterator[ParsedBatch]:
    """The batches parsed in `pool`, in order, with at most `ahead` more being parsed."""
    pending: deque = deque()
    for batch in batches:
        pending.append(
            pool.submit(parse_batch, batch, state.required, state.optional, state.time_window)
        )
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _collect(future: Future, value_parts: list, attribute_parts: list) -> None:
    """Append one batch's finished value and attribute partials."""
    value_part, attribute_part = future.result()
    value_parts.append(value_part)
    attribute_parts.append(attribute_part)


def _batch_partials(rows: Rows, values: list[str], how: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The value and attribute partial aggregates of one batch's clean rows."""
    return partials.value_partial(rows, values, how), partials.attribute_partial(rows)


def _compact(
    pool: ThreadPoolExecutor,
    value_parts: list[pd.DataFrame | Future],
    attribute_parts: list[pd.DataFrame | Future],
    values: list[str],
    how: str,
) -> tuple[list[pd.DataFrame | Future], list[pd.DataFrame | Future]]:
    """Combine the partials (in `pool`) once the newer ones outweigh the combined first one.

    Memory stays within about twice the output (partials of different batches share keys only
    where batches overlap in pool-days), and each key is combined O(log n) times in all. The
    combination runs beside the stream (the first part is then its future): done here, it held
    up the batches behind it for up to half a second.
    """
    if how != "median" and _outweighed(value_parts):
        value_parts = [pool.submit(partials.combine_values, _done(value_parts), values, how)]
    if _outweighed(attribute_parts):
        attribute_parts = [pool.submit(partials.combine_attributes, _done(attribute_parts))]
    return value_parts, attribute_parts


def _outweighed(parts: list[pd.DataFrame | Future]) -> bool:
    """True when there are many parts and those after the first hold more rows than it."""
    return len(parts) >= 16 and sum(len(p) for p in parts[1:]) >= len(_done(parts[:1])[0])


def _done(parts: list[pd.DataFrame | Future]) -> list[pd.DataFrame]:
    """The parts, a combination still running awaited (it is long done when next needed)."""
    return [p.result() if isinstance(p, Future) else p for p in parts]


def reduce_pools_history(
    pools_history: Iterable[pa.RecordBatch] | pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate the raw history, drop and count bad rows and APY outliers, reduce to pool-days."""
    how = params["daily_aggregation"]
    if how not in AGGREGATIONS:
        raise ValueError(f"daily_aggregation must be last, mean or median, got {how!r}")
    run = _pass(pools_history, params, how, threshold=None)
    n_apy = sum(len(apy) for apy in run["clean_apy"])
    cap, n_outliers = _outlier_cap(run, n_apy, params["apy_outlier_quantile"])
    if run["guard"] > cap:
        # Some batch's guard was above the final cap, so outliers may be in its aggregates:
        # rare (it takes APYs that fall a lot later in the file); a second pass is exact.
        logger.info("APY outlier cap %.4g below a batch guard: second pass", cap)
        run = _pass(pools_history, params, how, threshold=cap)
    state, values = run["state"], run["values"]
    kept = [_take(s, s["apy"] <= cap) for s in run["suspects"]]
    if kept:
        rows = {name: np.concatenate([k[name] for k in kept]) for name in kept[0]}
        run["value_parts"].append(partials.value_partial(rows, values, how))
        run["attribute_parts"].append(partials.attribute_partial(rows))
    observed = _observed_days(run, values, how)

    n_malformed, malformed = _malformed_rows(pools_history)
    state.rows += n_malformed
    dropped = {**state.dropped, "malformed_row": n_malformed, "apy_outlier": n_outliers}
    n_clean = n_apy - n_outliers
    if not n_clean:
        # Nothing to train on: say why, before an empty grid or an infinite APY cap is written.
        reasons = ", ".join(f"{k}={v}" for k, v in dropped.items() if v) or "the file has no row"
        raise ValueError(
            f"pools_history has no usable row: {state.rows:,} rows read, all dropped ({reasons})"
        )
    report = {
        "rows_raw": state.rows,
        "rows_clean": n_clean,
        "rows_dropped": state.rows - n_clean,
        "dropped_by_reason": dropped,
        "apy_outlier_cap": cap,
        "pools": int(observed["pool"].nunique()),
        "malformed_rows": malformed,
    }
    logger.info(
        "Cleaned pools_history: kept %d of %d rows; dropped %s (APY outlier cap %.4g%%)",
        n_clean,
        state.rows,
        ", ".join(f"{k}={v}" for k, v in dropped.items()),
        cap,
    )
    return observed, report


def check_history_growth(
    pools_daily_reduced: pd.DataFrame,
    cleaning_report_reduced: dict[str, Any],
    trained_history: dict[str, Any],
    params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Pass the pool-days and their report on unless the history lost pools against the one the
    model in service was trained on; summarise it for the release.

    A pool is lost when it is gone or its history now ends on an earlier day. A few may go (a
    live ingestion refetches today's top pools, and tolerates failures); more than
    `max_lost_pool_share` of them is a truncated file or an ingestion that lost data.
    """
    last = pools_daily_reduced.groupby("pool", observed=True)["date"].max().dt.strftime("%Y-%m-%d")
    summary = {
        "rows_raw": int(cleaning_report_reduced["rows_raw"]),
        "rows_clean": int(cleaning_report_reduced["rows_clean"]),
        "pools": int(len(last)),
        "first_date": str(pools_daily_reduced["date"].min().date()),
        "last_date": str(pools_daily_reduced["date"].max().date()),
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
    return pools_daily_reduced, cleaning_report_reduced, summary


def _malformed_rows(
    pools_history: Iterable[pa.RecordBatch] | pd.DataFrame,
) -> tuple[int, list[dict[str, Any]]]:
    """Rows the reader skipped for their number of fields: a count, and the first few, logged
    with the file and line."""
    if not hasattr(pools_history, "malformed_rows"):
        return 0, []
    count, rows = pools_history.malformed_rows()
    for row in rows[:5]:
        logger.warning(
            "%s line %s: %s; row dropped: %r",
            pools_history.path,
            row["line"] or "?",
            row["problem"],
            row["text"],
        )
    if count > 5:
        logger.warning("%s: %d malformed rows dropped in all", pools_history.path, count)
    return count, rows


def _outlier_cap(run: dict[str, Any], n: int, q: float) -> tuple[float, int]:
    """The q-quantile of the n clean APYs (NumPy's linear one, pandas' too), and how many exceed it.

    Every APY above the highest batch guard was set aside as a suspect. When the two values the
    quantile interpolates are among those, only they are sorted (about 1% of the rows, not all).
    """
    if not n:
        return np.inf, 0
    suspect = np.concatenate([s["apy"] for s in run["suspects"]] or [np.zeros(0)])
    above = suspect[suspect > run["guard"]]
    h = (n - 1) * q
    lower, first_above = min(math.floor(h), n - 1), n - len(above)
    if lower >= first_above:
        top = np.sort(above)
        pair = top[[lower - first_above, min(lower + 1, n - 1) - first_above]]
        # NumPy's interpolation of the pair at the same weight, so the same float as the whole.
        cap = float(np.quantile(pair, h - math.floor(h)))
        return cap, int((top > cap).sum())
    everything = np.concatenate(run["clean_apy"])
    cap = float(np.quantile(everything, q))
    return cap, int((everything > cap).sum())


def _observed_days(run: dict[str, Any], values: list[str], how: str) -> pd.DataFrame:
    """Observed pool-days (pool, date, daily values, pool attributes) from the partials."""
    state = run["state"]
    names = {c: np.array(state.codes[c].names + [None], dtype=object) for c in state.codes}
    if run["value_parts"]:
        combined = partials.combine_values(run["value_parts"], values, how)
        attributes = partials.combine_attributes(run["attribute_parts"])
    else:
        combined = pd.DataFrame({"key": np.zeros(0, np.int64), **{v: [] for v in values}})
        attributes = pd.DataFrame(
            {"key": np.zeros(0, np.int64), **{a: [] for a in POOL_ATTRIBUTE_COLUMNS}}
        )
    daily = partials.finish_values(combined, values, how)
    pool, date = partials.split_keys(daily["key"].to_numpy())
    # Texts are built once per distinct code, then taken per row: the same frame as converting
    # every row's text, or as a left join of the pool attributes on the pool's text.
    pool_names = pd.array(names["pool"], dtype="string")
    observed = pd.DataFrame({"pool": pool_names.take(pool), "date": date})
    for v in values:
        observed[v] = daily[v].to_numpy(dtype=float)
    # Each pool's row in the attributes (-1: no attributes, NA after the join).
    attribute_row = np.full(len(names["pool"]), -1)
    attribute_row[attributes["key"].to_numpy()] = np.arange(len(attributes))
    for a in POOL_ATTRIBUTE_COLUMNS:
        codes = attributes[a].fillna(-1).to_numpy(dtype=np.int64)
        per_pool = pd.array(names[a], dtype="string").take(codes, allow_fill=True)
        observed[a] = per_pool.take(attribute_row[pool], allow_fill=True)
    return observed


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


def build_daily_grid(
    pools_daily_observed: pd.DataFrame, pool_metadata: pd.DataFrame
) -> pd.DataFrame:
    """Spread the observed pool-days over a regular daily grid per pool, with its metadata."""
    attributes = pools_daily_observed.drop_duplicates("pool")[["pool", *POOL_ATTRIBUTE_COLUMNS]]
    daily = pools_daily_observed.drop(columns=list(POOL_ATTRIBUTE_COLUMNS))
    return daily_grid(daily, attributes, pool_metadata)
