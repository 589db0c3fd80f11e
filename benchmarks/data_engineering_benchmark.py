"""Data engineering at scale: our engine vs the reference notebook vs a pyarrow floor.

    KEDRO_DISABLE_TELEMETRY=1 python benchmarks/data_engineering_benchmark.py \
        --sizes 1000000 5000000 20000000

For each size, a plain-CSV hourly history is generated once (cached under --cache), then each
approach runs in a fresh subprocess; wall time is measured inside it (the work only, not the
interpreter start) and peak RSS from outside (os.wait4's ru_maxrss of that child):
  (a) ours: the data_engineering + feature_engineering node functions, in-process, no Kedro
      session: the engine's read, validation, daily grid (written as Parquet and read back, as
      the catalog does), categorical mapping, every feature.
  (b) notebook: the reference notebook's steps: pd.read_csv of the whole file, merge of the
      snapshot's pool info, APY quantile filter, sort, groupby([pool, Grouper('1D')]).last(),
      rolling 30-day median (shifted -29), expanding mean and std per pool via apply(lambda),
      factorized categoricals.
  (c) floor: pyarrow.csv.read_csv of the whole file with column types (multi-threaded).
  (d) floor, memory-mapped: (c) reading from a memory map of the file (no copy of the bytes
      read; its peak RSS counts the mapped file).
  (s) ours on the spark env's engine (PySpark in local mode, at --spark-sizes): the same nodes;
      its time includes the JVM's start, its peak RSS is the Python process's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def run_ours(path: Path) -> dict:
    """(a) The real node functions, from raw CSV to the feature table, on the default engine."""
    config = _globals("base")
    return _run_engine(path, config["engine"], config["raw_csv_args"], {})


def run_spark(path: Path) -> dict:
    """(s) The same, on the spark env's engine (PySpark, local mode; the JVM's start included)."""
    config = _globals("spark")
    return _run_engine(path, config["engine"], config["raw_csv_args"], config["parquet_save_args"])


def _run_engine(path: Path, engine: dict, csv_args: dict, save_args: dict) -> dict:
    """The data_engineering and feature_engineering nodes on `engine`, as the pipeline runs
    them: readings and the grid written as Parquet by the engine, the grid read by pandas."""
    import tempfile

    import pandas as pd
    import yaml
    from kedro_datasets.ibis import FileDataset

    from yield_runway.features.snapshot import extract_pool_metadata
    from yield_runway.pipelines.data_engineering import nodes as de
    from yield_runway.pipelines.feature_engineering import nodes as fe

    params: dict = {}
    for file in sorted((PROJECT / "conf" / "base").glob("parameters*.yml")):
        params.update(yaml.safe_load(file.read_text()) or {})
    p = params["data_engineering"]
    out = Path(tempfile.mkdtemp(prefix="de-bench-"))
    if engine["backend"] == "duckdb":
        engine = {**engine, "temp_directory": str(out / "spill")}
    snapshot = json.loads((path.parent / "pools_snapshot.json").read_text())

    began = time.perf_counter()
    raw = FileDataset(str(path), "csv", connection=engine, load_args=csv_args)
    stored = FileDataset(str(out / "readings.parquet"), connection=engine, save_args=save_args)
    stored.save(de.read_snapshots(raw.load(), p))
    readings = stored.load()
    report = de.summarise_cleaning(readings, de.malformed_rows(readings), p)
    days, report, _ = de.check_history_growth(de.reduce_to_days(readings, report, p), report, {}, p)
    grid = de.build_daily_grid(days, extract_pool_metadata(snapshot, p))
    FileDataset(str(out / "daily.parquet"), connection=engine, save_args=save_args).save(grid)
    daily = pd.read_parquet(out / "daily.parquet")
    mapping = fe.fit_categorical_mapping(daily, params["feature_engineering"])
    features = fe.compute_pool_features(
        daily, mapping, params["feature_engineering"], params["target"]
    )
    return {
        "seconds": time.perf_counter() - began,
        "rows": report["rows_raw"],
        "out_rows": len(features),
    }


def _globals(env: str) -> dict:
    """An environment's globals over the base ones (the engine's connection and CSV options)."""
    import yaml

    read = lambda e: yaml.safe_load((PROJECT / "conf" / e / "globals.yml").read_text())  # noqa: E731
    return {**read("base"), **(read(env) if env != "base" else {})}


def run_notebook(path: Path) -> dict:
    """(b) The reference notebook's steps, in its order: whole file, per-group lambdas.

    DefiLlama's yield-ml `exploration.ipynb`: read_csv; merge the snapshot's pool info on
    (pool, chain, project); drop APY above its 0.999 quantile; to_datetime; sort by pool and
    timestamp; groupby([pool, Grouper('1D')]).last(); the 30-day forward median, expanding mean
    and std per pool via apply(lambda); factorize the categoricals. Only `errors="coerce"` is
    added, since the generated files hold the bad values the real ones do.
    """
    import pandas as pd

    began = time.perf_counter()
    df = pd.read_csv(path)
    enriched = pd.read_json(path.parent / "pools_snapshot.json")
    info = ["chain", "project", "pool", "stablecoin", "ilRisk", "exposure"]
    df = df.merge(enriched[info], how="left", on=["pool", "chain", "project"])
    df["apy"] = pd.to_numeric(df["apy"], errors="coerce")
    df = df[df.apy <= df.apy.quantile(0.999)]
    df["timestamp"] = pd.to_datetime(df["timestamp"], errors="coerce")
    df = df.dropna(subset=["timestamp", "pool"])
    df = df.sort_values(["pool", "timestamp"]).reset_index(drop=True)
    daily = df.groupby(["pool", pd.Grouper(key="timestamp", freq="1D")]).last().reset_index()
    by_pool = daily.groupby("pool")["apy"]
    daily["apyMedianShifted"] = by_pool.apply(
        lambda x: x.rolling(30).median().shift(-29)
    ).reset_index(level=0, drop=True)
    daily["apyMeanExpanding"] = by_pool.apply(lambda x: x.expanding().mean()).reset_index(
        level=0, drop=True
    )
    daily["apyStdExpanding"] = by_pool.apply(lambda x: x.expanding().std()).reset_index(
        level=0, drop=True
    )
    for column in ["chain", "project", "ilRisk", "exposure", "stablecoin"]:
        daily[f"{column}_factorized"] = pd.factorize(daily[column])[0]
    return {"seconds": time.perf_counter() - began, "rows": len(df), "out_rows": len(daily)}


def run_floor(path: Path, mapped: bool = False) -> dict:
    """(c) Parse the CSV with pyarrow alone, typed as far as the file allows (d: mapped)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    code = pa.dictionary(pa.int32(), pa.string())
    # timestamp and apy hold invalid text in these files (the generator's faults): strings.
    types = {
        "timestamp": pa.string(),
        "pool": code,
        "chain": code,
        "project": code,
        "symbol": code,
        "tvlUsd": pa.float64(),
        "apy": pa.string(),
        "apyBase": pa.float64(),
        "apyReward": pa.float64(),
    }
    began = time.perf_counter()
    source = pa.memory_map(str(path)) if mapped else path
    table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(column_types=types))
    return {"seconds": time.perf_counter() - began, "rows": table.num_rows, "out_rows": 0}


def run_mapped_floor(path: Path) -> dict:
    """(d) The floor, reading the CSV from a memory map."""
    return run_floor(path, mapped=True)


APPROACHES = {
    "a": run_ours,
    "b": run_notebook,
    "c": run_floor,
    "d": run_mapped_floor,
    "s": run_spark,
}
LABELS = {
    "a": "(a) ours",
    "s": "(s) ours, spark env",
    "b": "(b) notebook",
    "c": "(c) pyarrow floor",
    "d": "(d) floor, mapped",
}


def ensure_file(rows: int, cache: Path) -> Path:
    """The cached generated history of about `rows` rows (generated if absent)."""
    out = cache / f"rows_{rows}"
    path = out / "pools_history.csv"
    if not path.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "yield_runway.sample_data",
                "--rows",
                str(rows),
                "--cadence",
                "hourly",
                "--uncompressed",
                "--out",
                str(out),
            ],
            check=True,
        )
    return path


def measure(approach: str, path: Path) -> dict:
    """Run one approach in a fresh subprocess: its result plus its peak RSS."""
    load = os.getloadavg()[0]
    child = subprocess.Popen(
        [sys.executable, __file__, "--run", approach, "--file", str(path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
    )
    stdout = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise RuntimeError(f"{approach} failed on {path} (exit {child.returncode})")
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    return {**result, "rss_mb": usage.ru_maxrss / 1024, "load": load}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/yield-runway-bench"))
    parser.add_argument("--approaches", default="abcd", help="subset of a, b, c, d")
    parser.add_argument(
        "--spark-sizes", type=int, nargs="*", default=[5_000_000], help="sizes the spark env runs"
    )
    parser.add_argument("--run", choices=sorted(APPROACHES), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        print(json.dumps(APPROACHES[args.run](args.file)))
        return

    print(f"cores: {os.cpu_count()}  load average at start: {os.getloadavg()}")
    header = f"{'rows':>11} {'approach':<18} {'wall s':>8} {'peak RSS MB':>12} {'load':>5}"
    results: dict = {}
    for size in sorted({*args.sizes, *args.spark_sizes}):
        path = ensure_file(size, args.cache)
        approaches = args.approaches if size in args.sizes else ""
        for approach in approaches + ("s" if size in args.spark_sizes else ""):
            results[size, approach] = measure(approach, path)
            r = results[size, approach]
            print(
                f"{r['rows']:>11,} {LABELS[approach]:<18} {r['seconds']:>8.1f} "
                f"{r['rss_mb']:>12,.0f} {r['load']:>5.1f}",
                flush=True,
            )
    print()
    print(header)
    for (_size, approach), r in results.items():
        print(
            f"{r['rows']:>11,} {LABELS[approach]:<18} {r['seconds']:>8.1f} "
            f"{r['rss_mb']:>12,.0f} {r['load']:>5.1f}"
        )
    print()
    ratios = [f"{r:>9}" for r in ("time a/b", "time a/c", "time a/d")]
    ratios += [f"{r:>8}" for r in ("RSS a/b", "RSS a/c")]
    print(f"{'rows':>11} {' '.join(ratios)}")
    for size in args.sizes:
        a = results.get((size, "a"))
        b, c, d = (results.get((size, x)) for x in "bcd")
        cells = []
        for other in (b, c, d):
            cells.append(f"{a['seconds'] / other['seconds']:>9.2f}" if a and other else f"{'-':>9}")
        for other in (b, c):
            cells.append(f"{a['rss_mb'] / other['rss_mb']:>8.2f}" if a and other else f"{'-':>8}")
        print(f"{size:>11,} {' '.join(cells)}")


if __name__ == "__main__":
    main()
