"""CLI: python -m yield_runway.sample_data --pools 300 --cadence sample --out data/01_raw."""

from __future__ import annotations

import argparse
import json
import time

from yield_runway.sample_data.generator import CADENCES, SampleSpec, pools_for_rows, write


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m yield_runway.sample_data",
        description="Write a deterministic synthetic DefiLlama yields history and snapshot.",
    )
    parser.add_argument("--pools", type=int, default=300, help="number of pools")
    parser.add_argument("--rows", type=int, help="target clean row count (overrides --pools)")
    parser.add_argument("--start", default="2025-01-01", help="first day (UTC, inclusive)")
    parser.add_argument("--end", default="2025-10-31", help="last day (UTC, inclusive)")
    parser.add_argument("--cadence", choices=CADENCES, default="sample")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="data/01_raw", help="output directory")
    parser.add_argument("--no-faults", action="store_true", help="no duplicates or bad rows")
    parser.add_argument("--compresslevel", type=int, default=6, help="gzip level 1-9")
    parser.add_argument(
        "--uncompressed",
        action="store_true",
        help="write plain pools_history.csv (like the real pools.csv) instead of .csv.gz",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Generate and write the sample, then print a JSON summary."""
    args = parse_args(argv)
    spec = SampleSpec(args.pools, args.start, args.end, args.cadence, args.seed, not args.no_faults)
    if args.rows:
        spec = SampleSpec(
            pools_for_rows(args.rows, spec),
            args.start,
            args.end,
            args.cadence,
            args.seed,
            spec.faults,
        )
    began = time.perf_counter()
    summary = write(
        spec, args.out, compresslevel=args.compresslevel, compress=not args.uncompressed
    )
    summary.update(n_pools=spec.n_pools, seconds=round(time.perf_counter() - began, 1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
