"""Deterministic synthetic DefiLlama yields history (`pools.csv` format) and current snapshot.

The world is simulated on a daily grid per pool (TVL, base APY, reward emissions, volume), then
expanded into irregular ("sample") or hourly snapshots, streamed to disk in time-sorted chunks,
with duplicated and corrupt rows added on top of the clean rows. Cleaning the corrupt rows and
dropping exact duplicates gives back exactly the clean rows, which is what the snapshot's
expanding statistics (mu, sigma, count) are computed from.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from yield_runway.contracts import HISTORY_COLUMNS
from yield_runway.sample_data.catalogue import (
    CATEGORIES,
    CHAIN_SHARES,
    FEE_TIER_PROJECTS,
    PROJECTS,
    STABLE_SYMBOLS,
    STABLES,
    STAKED,
    VOLATILES,
)

HISTORY_FILE = "pools_history.csv.gz"
# Uncompressed, like the real pools.csv: what the data engineering benchmarks read.
PLAIN_HISTORY_FILE = "pools_history.csv"
SNAPSHOT_FILE = "pools_snapshot.json"
SNAPSHOT_FIELDS = [
    "pool",
    "chain",
    "project",
    "symbol",
    "tvlUsd",
    "apyBase",
    "apyReward",
    "apy",
    "rewardTokens",
    "apyPct1D",
    "apyPct7D",
    "apyPct30D",
    "stablecoin",
    "ilRisk",
    "exposure",
    "poolMeta",
    "mu",
    "sigma",
    "count",
    "outlier",
    "underlyingTokens",
    "il7d",
    "apyBase7d",
    "apyMean30d",
    "volumeUsd1d",
    "volumeUsd7d",
    "predictions",
]
CADENCES = ("sample", "hourly")
KINDS = ("dex", "lending", "yield", "aggregator", "staking")
FAULT_KINDS = ("nan_apy", "negative_apy", "text_apy", "missing_pool", "bad_timestamp", "absurd_apy")

# Legit APYs never exceed this; corrupt "absurd" rows are always above ABSURD_APY.
MAX_LEGIT_APY = 50_000.0
ABSURD_APY = 100_000.0
BURN_IN_DAYS = 365
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Sample cadence: snapshots per pool-day 1..6 (mean ~2.8), thinning the real hourly export.
SAMPLE_COUNTS_P = np.array([0.25, 0.25, 0.20, 0.12, 0.08, 0.10])
DUPLICATE_RATE = 0.005
FAULT_RATE = 0.001
ROWS_PER_CHUNK = 500_000
# Intraday multiplicative noise on base APY per kind (DEX fees are jumpy, staking is smooth).
INTRADAY_SIGMA = np.array([0.05, 0.01, 0.01, 0.02, 0.005])


@dataclass(frozen=True)
class SampleSpec:
    """What to generate: pool count, date window (inclusive, UTC), cadence and seed."""

    n_pools: int = 300
    start: str = "2025-01-01"
    end: str = "2025-10-31"
    cadence: str = "sample"
    seed: int = 7
    faults: bool = True

    @property
    def n_days(self) -> int:
        """Number of calendar days in the window."""
        return (pd.Timestamp(self.end) - pd.Timestamp(self.start)).days + 1

    @property
    def start_ms(self) -> int:
        """Window start as epoch milliseconds (UTC midnight)."""
        return int(pd.Timestamp(self.start, tz="UTC").value // 1_000_000)


@dataclass
class Pools:
    """Static attributes of every pool, one entry per pool."""

    table: pd.DataFrame
    kind: np.ndarray
    launch: np.ndarray
    eligible: np.ndarray
    apy_only: np.ndarray
    thin: np.ndarray
    fee: np.ndarray
    no_death: np.ndarray


@dataclass
class Daily:
    """Daily end-of-day state per pool over the window plus one extra (snapshot) day."""

    tvl: np.ndarray
    base: np.ndarray
    reward: np.ndarray
    volume: np.ndarray
    alive_end: np.ndarray
    emitted: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))


@dataclass
class DayRecord:
    """Clean last-snapshot-of-day values per pool-day, filled while rows are produced."""

    apy: np.ndarray
    base: np.ndarray


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent RNG streams so each stage is stable when another stage changes."""
    names = ["pools", "sim", "gaps", "rows", "faults", "snapshot"]
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: np.random.default_rng(s) for n, s in zip(names, children, strict=True)}


# --------------------------------------------------------------------------- pools


def _uuid_strings(rng: np.random.Generator, n: int) -> list[str]:
    """Random version-4 UUID strings."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    out = []
    for row in raw:
        h = row.tobytes().hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _token_address(chain: str, token: str) -> str:
    """Stable fake on-chain address of a token (base58 on Solana, hex elsewhere)."""
    digest = hashlib.sha256(f"{chain}:{token}".encode()).digest()
    if chain != "Solana":
        return "0x" + digest[:20].hex()
    num, chars = int.from_bytes(digest, "big"), []
    while num:
        num, rem = divmod(num, 58)
        chars.append(_B58[rem])
    return "".join(reversed(chars))[:44]


def _pick(rng: np.random.Generator, options: list[str], k: int = 1) -> list[str]:
    """k distinct random choices from a list."""
    idx = rng.choice(len(options), size=min(k, len(options)), replace=False)
    return [options[i] for i in idx]


def _tokens_for(rng: np.random.Generator, kind: str, project: str, chain: str) -> list[str]:
    """Underlying token symbols of a pool, consistent with its kind."""
    stables = STABLES.get(chain, STABLES["default"])
    vols = VOLATILES.get(chain, VOLATILES["default"])
    if kind == "staking":
        return _pick(rng, STAKED.get(chain, STAKED["default"]))
    single_p = {"lending": 1.0, "yield": 0.6, "aggregator": 0.4, "dex": 0.0}[kind]
    if project in ("kamino-liquidity", "gamma", "convex-finance", "stake-dao"):
        single_p = 0.0
    if project in ("ethena-usde", "hyperliquid-hlp", "lulo"):
        return ["SUSDE" if project == "ethena-usde" else "USDC"]
    if rng.random() < single_p:
        return _pick(rng, stables if rng.random() < 0.5 else vols)
    stable_pair_p = 0.7 if project in ("curve-dex", "convex-finance") else 0.15
    r = rng.random()
    if r < stable_pair_p:
        return _pick(rng, stables, 2)
    if r < stable_pair_p + 0.45:
        return _pick(rng, vols) + _pick(rng, stables)
    return _pick(rng, vols, 2)


def _fee_tier(rng: np.random.Generator, tokens: list[str]) -> float:
    """Swap fee of a DEX pool (stable pairs trade on the cheap tiers)."""
    if all(t in STABLE_SYMBOLS for t in tokens):
        return float(rng.choice([0.0001, 0.0005], p=[0.6, 0.4]))
    return float(rng.choice([0.0005, 0.003, 0.01, 0.0025], p=[0.25, 0.4, 0.2, 0.15]))


def _pool_meta(rng: np.random.Generator, project: str, fee: float) -> str | None:
    """Free-text poolMeta as DefiLlama adapters publish it (often null)."""
    if project in FEE_TIER_PROJECTS:
        return f"{fee * 100:g}%"
    if project == "pendle":
        month = rng.choice(["26JUN2025", "25SEP2025", "18DEC2025", "26MAR2026"])
        return f"For buying PT-{month}"
    if project == "morpho-blue" and rng.random() < 0.5:
        return "Vault"
    return None


def _choose_category_chain_project(rng: np.random.Generator) -> tuple[str, str, str]:
    """Draw category, then chain (by real shares among chains served), then project."""
    cats = list(CATEGORIES)
    cw = np.array([CATEGORIES[c][0] for c in cats])
    cat = cats[rng.choice(len(cats), p=cw / cw.sum())]
    in_cat = [p for p in PROJECTS if p[1] == cat]
    chains = [c for c in CHAIN_SHARES if any(c in p[2] for p in in_cat)]
    w = np.array([CHAIN_SHARES[c] for c in chains])
    chain = chains[rng.choice(len(chains), p=w / w.sum())]
    cands = [p for p in in_cat if chain in p[2]]
    pw = np.array([p[3] for p in cands], dtype=float)
    return cat, chain, cands[rng.choice(len(cands), p=pw / pw.sum())][0]


def _launch_days(rng: np.random.Generator, n_pools: int, n_days: int) -> np.ndarray:
    """Launch day per pool relative to the window start (negative: before the window)."""
    before = rng.random(n_pools) < 0.45
    launch = np.where(
        before,
        -rng.integers(1, BURN_IN_DAYS + 1, n_pools),
        rng.integers(0, max(n_days - 1, 1), n_pools),
    )
    # A few pools launched in the last days: fewer than 7 daily samples at snapshot time.
    n_late = max(2, round(0.025 * n_pools))
    late = rng.choice(n_pools, size=min(n_late, n_pools), replace=False)
    launch[late] = n_days - 1 - rng.integers(0, min(6, n_days), late.size)
    return launch.astype(np.int64)


def make_pools(rng: np.random.Generator, n_pools: int, n_days: int) -> Pools:
    """Draw the static pool universe: identity, type, tokens and launch day."""
    ids = _uuid_strings(rng, n_pools)
    rows, kinds, fees = [], [], []
    for pid in ids:
        cat, chain, project = _choose_category_chain_project(rng)
        kind = CATEGORIES[cat][1]
        tokens = _tokens_for(rng, kind, project, chain)
        fee = _fee_tier(rng, tokens) if kind == "dex" else 0.0
        multi = len(tokens) > 1
        stable = all(t in STABLE_SYMBOLS for t in tokens)
        rows.append(
            {
                "pool": pid,
                "chain": chain,
                "project": project,
                "category": cat,
                "symbol": "-".join(tokens),
                "stablecoin": stable,
                "ilRisk": "yes" if multi and not stable else "no",
                "exposure": "multi" if multi else "single",
                "poolMeta": _pool_meta(rng, project, fee),
                "underlyingTokens": (
                    [_token_address(chain, t) for t in tokens] if rng.random() < 0.8 else None
                ),
                "rewardToken": _token_address(chain, project.split("-")[0].upper()),
            }
        )
        kinds.append(KINDS.index(kind))
        fees.append(fee)
    kind = np.array(kinds)
    launch = _launch_days(rng, n_pools, n_days)
    reward_p = np.array([0.38, 0.45, 0.30, 0.20, 0.08])[kind]
    no_death = launch >= n_days - 6
    return Pools(
        table=pd.DataFrame(rows),
        kind=kind,
        launch=launch,
        eligible=rng.random(n_pools) < reward_p,
        apy_only=rng.random(n_pools) < 0.03,
        thin=(kind == 0) & (rng.random(n_pools) < 0.15),
        fee=np.array(fees),
        no_death=no_death,
    )


# --------------------------------------------------------------------------- daily world


def _split_normal(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """Skewed draws: standard deviation `lo` below zero and `hi` above."""
    z = rng.standard_normal(n)
    return np.where(z < 0, z * lo, z * hi)


@dataclass
class _Params:
    """Per-pool simulation parameters drawn once."""

    ln_target: np.ndarray
    ln_vol_level: np.ndarray
    ref_apy: np.ndarray
    m_pool: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    uopt: np.ndarray
    level: np.ndarray
    ar_sigma: np.ndarray
    rw_sigma: np.ndarray
    boost: np.ndarray
    boost_tau: np.ndarray
    p_zero: np.ndarray
    cliff: np.ndarray
    start_gap: np.ndarray


def _lend_apy(z: np.ndarray, prm: _Params) -> np.ndarray:
    """Supply APY (%) from a kinked interest-rate curve at utilisation sigmoid(z)."""
    u = 1.0 / (1.0 + np.exp(-z))
    borrow = np.where(
        u < prm.uopt,
        prm.s1 * u / prm.uopt,
        prm.s1 + prm.s2 * (u - prm.uopt) / (1 - prm.uopt),
    )
    return np.where(u < 0.02, 0.0, borrow * u * 0.9 * 100)


def _draw_params(rng: np.random.Generator, pools: Pools) -> _Params:
    """Per-pool levels: TVL target, fee/utilisation/yield levels, reward hazards."""
    n, kind = len(pools.kind), pools.kind
    tvl_shift = np.array([0.0, 1.2, 0.4, -0.3, 1.6])[kind]
    ln_target = np.log(45_000) + tvl_shift + _split_normal(rng, n, 1.0, 2.5)
    stable_pair = pools.table["stablecoin"].to_numpy() & (kind == 0)
    fee_apy = np.exp(
        np.where(stable_pair, np.log(6.0), np.log(30.0)) + rng.standard_normal(n) * 1.8
    )
    fee = np.where(pools.fee > 0, pools.fee, 0.003)
    ln_vol_level = ln_target + np.log(fee_apy / (fee * 365 * 100))
    idle = (kind == 1) & (rng.random(n) < 0.12)
    prm = _Params(
        ln_target=ln_target,
        ln_vol_level=ln_vol_level,
        ref_apy=np.zeros(n),
        m_pool=np.where(idle, -4.5, rng.normal(0.4, 0.9, n)),
        s1=rng.uniform(0.12, 0.35, n),
        s2=rng.uniform(0.5, 3.0, n),
        uopt=rng.uniform(0.8, 0.92, n),
        level=np.log(np.array([1, 1, 24.0, 30.0, 8.0])[kind])
        + rng.standard_normal(n) * np.array([0, 0, 1.0, 1.1, 0.3])[kind],
        ar_sigma=np.array([0.12, 0.05, 0.05, 0.06, 0.02])[kind],
        rw_sigma=np.array([0.05, 0.03, 0.03, 0.04, 0.01])[kind],
        boost=np.where(rng.random(n) < 0.5, rng.uniform(0.5, 2.5, n), 0.0),
        boost_tau=rng.uniform(7, 25, n),
        p_zero=np.where(pools.thin, rng.uniform(0.1, 0.5, n), 0.0),
        cliff=rng.uniform(1 / 200, 1 / 60, n),
        start_gap=rng.uniform(0.5, 2.5, n),
    )
    lend_ref = _lend_apy(prm.m_pool, prm)
    # Level shifts drift down to about exp(-0.8) of the launch level; TVL judges APY against it.
    prm.ref_apy = 0.45 * np.select([kind == 0, kind == 1], [fee_apy, lend_ref], np.exp(prm.level))
    return prm


@dataclass
class _State:
    """Evolving per-pool state of the daily simulation."""

    ln_tvl: np.ndarray
    x: np.ndarray
    level: np.ndarray
    reg: np.ndarray
    y: np.ndarray
    z: np.ndarray
    m: np.ndarray
    emis: np.ndarray
    lam: np.ndarray
    dying: np.ndarray
    drain: np.ndarray

    @classmethod
    def initial(cls, prm: _Params) -> _State:
        """State before any pool launches."""
        n = prm.ln_target.size
        zeros = [np.zeros(n) for _ in range(6)]
        return cls(
            prm.ln_target.copy(),
            *zeros[:4],
            prm.m_pool.copy(),
            prm.m_pool.copy(),
            zeros[4],
            zeros[5],
            np.zeros(n, bool),
            np.zeros(n),
        )


def _step_base(
    st: _State, prm: _Params, pools: Pools, age: np.ndarray, e: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Advance the base-APY processes one day; returns (base APY %, DEX volume USD)."""
    # DEX: volume is exogenous, so fee APY = fee * volume / TVL is diluted by inflows; volume
    # spikes decay within days (visible mean reversion).
    st.x = 0.75 * st.x + prm.ar_sigma * e[0] + (u[0] < 0.06) * (1.2 + 0.5 * e[1])
    boost = prm.boost * np.exp(-np.maximum(age, 0) / prm.boost_tau)
    ln_vol = prm.ln_vol_level + st.x + boost - 0.25 * st.drain * st.dying
    volume = np.exp(ln_vol) * (u[1] >= prm.p_zero)
    fee = np.where(pools.fee > 0, pools.fee, 0.003)
    dex_apy = fee * 365 * 100 * volume / np.exp(st.ln_tvl)
    # Lending: utilisation with persistent regimes that switch at random.
    st.m = np.where(u[2] < 1 / 40, prm.m_pool + 1.0 * e[2], st.m)
    st.z = st.z + 0.1 * (st.m - st.z) + prm.ar_sigma * e[3]
    # Yield / aggregators / staking: smooth level with regime shifts.
    st.reg = np.where(u[3] < 1 / 50, 0.4 * e[4], st.reg)
    st.y = 0.85 * st.y + prm.ar_sigma * e[5]
    other_apy = np.exp(prm.level + st.reg + st.y)
    # Common level: random walk plus random, mostly downward shifts (competition, migration):
    # the unpredictable part of the 30-day outlook.
    shift = (u[4] < 1 / 35) * (0.55 * e[6] - 0.3)
    st.level = 0.995 * st.level + prm.rw_sigma * e[7] + shift
    kind = pools.kind
    base = np.select([kind == 0, kind == 1], [dex_apy, _lend_apy(st.z, prm)], other_apy)
    return base * np.exp(st.level), volume


def _step_rewards(
    st: _State, prm: _Params, pools: Pools, age: np.ndarray, e: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Advance reward emissions one day; returns reward APY (%) = emissions / TVL."""
    new = age == 0
    again = ~new & (age > 0) & (u[5] < 1 / 100)
    start = pools.eligible & ~st.dying & (st.emis == 0) & ((new & (u[5] < 0.8)) | again)
    r0 = np.exp(np.log(12.0) + 1.2 * e[8])
    st.emis = np.where(start, r0 / 100 * np.exp(prm.ln_target), st.emis)
    st.lam = np.where(start, 1 / np.exp(np.log(60) + 0.6 * e[9]), st.lam)
    # Programs decay, and end abruptly at a random (unobservable) hazard.
    st.emis = np.where((u[6] < prm.cliff) | st.dying, 0.0, st.emis * np.exp(-st.lam))
    return 100 * st.emis / np.exp(st.ln_tvl)


def _step_tvl(st: _State, prm: _Params, apy: np.ndarray, e: np.ndarray, u: np.ndarray) -> None:
    """Advance TVL: pulled to its own target, chasing APY above the pool's normal level."""
    flow = 0.02 * np.clip(np.log((apy + 1) / (prm.ref_apy + 1)), -3, 3)
    shock = (u[7] < 0.01) * 0.5 * e[10]
    st.ln_tvl = st.ln_tvl + 0.03 * (prm.ln_target - st.ln_tvl) + flow + 0.04 * e[11] + shock
    st.ln_tvl = st.ln_tvl - st.drain * st.dying


def _step_deaths(
    rng: np.random.Generator, st: _State, pools: Pools, age: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Start dying (TVL drains, rows stop days later), more likely for small pools."""
    hazard = (1 / 900) * (1 + 2 * (np.exp(st.ln_tvl) < 30_000))
    die = ~st.dying & (age > 0) & ~pools.no_death & (u[8] < hazard)
    st.drain = np.where(die, rng.uniform(0.08, 0.25, die.size), st.drain)
    st.dying |= die
    return np.where(die, rng.integers(5, 21, die.size), -1)


def simulate(rng: np.random.Generator, pools: Pools, n_days: int) -> Daily:
    """Run the daily world from the burn-in start to one day past the window."""
    n = len(pools.kind)
    prm = _draw_params(rng, pools)
    t_launch = pools.launch + BURN_IN_DAYS
    rec = {k: np.full((n, n_days + 1), np.nan) for k in ("tvl", "base", "reward", "volume")}
    st = _State.initial(prm)
    alive_end = np.full(n, n_days + 1, dtype=np.int64)
    for t in range(int(t_launch.min()), BURN_IN_DAYS + n_days + 1):
        e, u = rng.standard_normal((12, n)), rng.random((9, n))
        age, d = t - t_launch, t - BURN_IN_DAYS
        # New pools start well below their target TVL: high APY that dilutes within weeks.
        st.ln_tvl = np.where(age == 0, prm.ln_target - prm.start_gap, st.ln_tvl)
        base, volume = _step_base(st, prm, pools, age, e, u)
        reward = np.minimum(_step_rewards(st, prm, pools, age, e, u), MAX_LEGIT_APY / 2)
        base = np.minimum(base, MAX_LEGIT_APY - reward)
        if d >= 0:
            vals = {"tvl": np.exp(st.ln_tvl), "base": base, "reward": reward, "volume": volume}
            for key, val in vals.items():
                rec[key][:, d] = val
            if d < n_days:
                lag = _step_deaths(rng, st, pools, age, u)
                alive_end = np.where(lag >= 0, d + lag, alive_end)
        _step_tvl(st, prm, base + reward, e, u)
    return Daily(**rec, alive_end=alive_end)


def emission_mask(rng: np.random.Generator, pools: Pools, daily: Daily, n_days: int) -> np.ndarray:
    """Pool-days that produce rows: alive, launched, minus random missing days and long gaps."""
    n = len(pools.kind)
    days = np.arange(n_days)
    alive = (days >= pools.launch[:, None]) & (days < daily.alive_end[:, None])
    drop = rng.random((n, n_days)) < 0.006
    has_gap = (rng.random(n) < 0.05) & ~pools.no_death
    gap_len = rng.integers(10, 61, n)
    first = np.maximum(pools.launch, 0)
    gap_start = first + (rng.random(n) * np.maximum(n_days - 3 - first - gap_len, 0)).astype(int)
    in_gap = (
        has_gap[:, None] & (days >= gap_start[:, None]) & (days < (gap_start + gap_len)[:, None])
    )
    mask = alive & ~drop & ~in_gap
    # Keep each pool's first day so every pool appears, and late launches stay contiguous.
    mask[np.arange(n), np.clip(first, 0, n_days - 1)] |= alive[
        np.arange(n), np.clip(first, 0, n_days - 1)
    ]
    mask[pools.no_death] = alive[pools.no_death]
    return mask


# --------------------------------------------------------------------------- rows


def format_timestamps(ms: np.ndarray) -> np.ndarray:
    """Epoch milliseconds -> ISO-8601 UTC strings with milliseconds and Z (fixed width)."""
    day = ms // DAY_MS
    uniq, inv = np.unique(day, return_inverse=True)
    prefixes = np.array(
        [s + "T" for s in np.datetime_as_string(uniq.astype("datetime64[D]"))], dtype="S11"
    )
    out = np.zeros((ms.size, 24), dtype=np.uint8)
    out[:, :11] = prefixes.view(np.uint8).reshape(-1, 11)[inv]
    rem = ms - day * DAY_MS
    parts = [rem // HOUR_MS, rem // 60_000 % 60, rem // 1000 % 60]
    for i, val in enumerate(parts):
        out[:, 11 + 3 * i] = 48 + val // 10
        out[:, 12 + 3 * i] = 48 + val % 10
    out[:, [13, 16]] = ord(":")
    out[:, 19] = ord(".")
    msec = rem % 1000
    out[:, 20], out[:, 21], out[:, 22] = 48 + msec // 100, 48 + msec // 10 % 10, 48 + msec % 10
    out[:, 23] = ord("Z")
    return out.view("S24").ravel()


def _row_times(
    rng: np.random.Generator, counts: np.ndarray, days: np.ndarray, spec: SampleSpec
) -> np.ndarray:
    """Epoch-ms timestamps of each snapshot, ascending within each pool-day group."""
    group = np.repeat(np.arange(counts.size), counts)
    if spec.cadence == "hourly":
        first = np.cumsum(counts) - counts
        hour = np.arange(group.size) - first[group]
        # One scheduled run per hour, a couple of minutes late, plus per-pool jitter.
        run = rng.integers(0, 150_000, size=(int(days.max()) + 1, 24))
        offset = hour * HOUR_MS + run[days[group], hour] + rng.integers(0, 5_000, group.size)
    else:
        offset = np.sort(rng.integers(0, DAY_MS, group.size) + group * DAY_MS) - group * DAY_MS
    return spec.start_ms + days[group] * DAY_MS + offset


def _chunks(emitted: np.ndarray, spec: SampleSpec) -> list[tuple[int, int]]:
    """Day ranges whose row counts stay near ROWS_PER_CHUNK."""
    per_day = emitted.sum(axis=0) * (24 if spec.cadence == "hourly" else 3)
    bounds, acc, lo = [], 0, 0
    for d, rows in enumerate(per_day):
        acc += rows
        if acc >= ROWS_PER_CHUNK:
            bounds.append((lo, d + 1))
            lo, acc = d + 1, 0
    if lo < emitted.shape[1]:
        bounds.append((lo, emitted.shape[1]))
    return bounds


def _clean_chunk(
    rng: np.random.Generator,
    pools: Pools,
    daily: Daily,
    days: tuple[int, int],
    spec: SampleSpec,
    record: DayRecord,
) -> pa.Table:
    """Clean, time-sorted snapshot rows for a day range; records last-of-day values."""
    d_idx, p_idx = np.nonzero(daily.emitted[:, days[0] : days[1]].T)
    d_idx = d_idx + days[0]
    if spec.cadence == "hourly":
        counts = np.full(p_idx.size, 24)
    else:
        counts = rng.choice(np.arange(1, 7), size=p_idx.size, p=SAMPLE_COUNTS_P)
    ms = _row_times(rng, counts, d_idx, spec)
    p, d = np.repeat(p_idx, counts), np.repeat(d_idx, counts)
    k = rng.standard_normal((3, p.size))
    base = np.round(daily.base[p, d] * np.exp(INTRADAY_SIGMA[pools.kind[p]] * k[0]), 5)
    reward = np.round(daily.reward[p, d] * np.exp(0.01 * k[1]), 5)
    reward = np.where(pools.eligible[p], reward, 0.0)
    apy = base + reward
    tvl = np.round(daily.tvl[p, d] * np.exp(0.01 * k[2]))
    base_null = pools.apy_only[p] | (pools.eligible[p] & (rng.random(p.size) < 0.002))
    last = np.cumsum(counts) - 1
    record.apy[p_idx, d_idx] = apy[last]
    record.base[p_idx, d_idx] = np.where(base_null[last], np.nan, base[last])
    order = np.argsort(ms, kind="stable")
    tab = pools.table
    cols = {
        "timestamp": pa.array(format_timestamps(ms[order])).cast(pa.string()),
        "pool": _take(tab["pool"], p[order]),
        "chain": _take(tab["chain"], p[order]),
        "project": _take(tab["project"], p[order]),
        "symbol": _take(tab["symbol"], p[order]),
        "tvlUsd": pa.array(tvl[order].astype(np.int64)),
        "apy": pa.array(apy[order]).cast(pa.string()),
        "apyBase": pa.array(base[order], mask=base_null[order]),
        "apyReward": pa.array(
            reward[order], mask=~pools.eligible[p[order]] | pools.apy_only[p[order]]
        ),
    }
    return pa.table(cols)


def _take(values: pd.Series, idx: np.ndarray) -> pa.Array:
    """Per-row strings from per-pool strings."""
    return pa.array(values.to_numpy(dtype=object)).take(pa.array(idx))


def _set(table: pa.Table, name: str, values: Any) -> pa.Table:
    """Replace one column of a table."""
    return table.set_column(table.schema.get_field_index(name), name, values)


def _corrupt(rng: np.random.Generator, rows: pa.Table, kind: str) -> pa.Table:
    """Copies of rows with one defect each, of the given kind."""
    n = rows.num_rows
    if kind == "nan_apy":
        return _set(rows, "apy", pa.nulls(n, pa.string()))
    if kind == "text_apy":
        return _set(rows, "apy", pa.array(rng.choice(["N/A", "error", "1.2.3%"], n)))
    if kind == "missing_pool":
        return _set(rows, "pool", pa.nulls(n, pa.string()))
    if kind == "bad_timestamp":
        bad = ["2025-02-30T25:61:00.000Z", "not-a-timestamp", None]
        picked = [bad[i] for i in rng.integers(0, len(bad), n)]
        return _set(rows, "timestamp", pa.array(picked, type=pa.string()))
    if kind == "negative_apy":
        val = -np.round(rng.uniform(0.01, 50.0, n), 5)
    else:  # absurd_apy
        val = np.round(ABSURD_APY * 10 ** rng.uniform(1, 4, n), 2)
    rows = _set(rows, "apy", pa.array(val).cast(pa.string()))
    rows = _set(rows, "apyBase", pa.array(val))
    return _set(rows, "apyReward", pa.nulls(n, pa.float64()))


def _with_faults(rng: np.random.Generator, clean: pa.Table) -> pa.Table:
    """Clean rows plus exact duplicates and corrupt copies, each next to its source row."""
    n = clean.num_rows
    parts, keys = [clean], [np.arange(n, dtype=np.float64)]
    n_dup = rng.binomial(n, DUPLICATE_RATE)
    src = rng.choice(n, size=n_dup, replace=False) if n_dup else np.zeros(0, int)
    parts.append(clean.take(pa.array(src)))
    keys.append(src + 0.5)
    for kind in FAULT_KINDS:
        src = rng.choice(n, size=max(1, rng.binomial(n, FAULT_RATE)), replace=True)
        parts.append(_corrupt(rng, clean.take(pa.array(src)), kind))
        keys.append(src + 0.25)
    order = np.argsort(np.concatenate(keys), kind="stable")
    return pa.concat_tables(parts).take(pa.array(order))


# --------------------------------------------------------------------------- snapshot


def _last_values(arr: np.ndarray, k: int) -> np.ndarray:
    """Per pool, the values of the last k window days."""
    return arr[:, arr.shape[1] - k :]


def _expanding(apy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, sample std (0 below two samples) and count of each pool's daily APYs."""
    count = np.sum(~np.isnan(apy), axis=1)
    mu = np.where(count > 0, np.nansum(apy, axis=1) / np.maximum(count, 1), np.nan)
    dev = np.nansum((apy - mu[:, None]) ** 2, axis=1)
    sigma = np.where(count > 1, np.sqrt(dev / np.maximum(count - 1, 1)), 0.0)
    return mu, sigma, count


def _num(v: float, digits: int = 6) -> float | None:
    """JSON-safe rounded float (NaN -> null)."""
    return None if v is None or not math.isfinite(v) else round(float(v), digits)


def snapshot_records(
    rng: np.random.Generator, pools: Pools, daily: Daily, record: DayRecord, n_days: int
) -> list[dict[str, Any]]:
    """One dataEnriched-style object per pool alive just after the history ends."""
    alive = (daily.alive_end > n_days) & daily.emitted.any(axis=1)
    n = len(pools.kind)
    k = rng.standard_normal((3, n))
    base = np.round(daily.base[:, n_days] * np.exp(INTRADAY_SIGMA[pools.kind] * k[0]), 5)
    reward = np.where(pools.eligible, np.round(daily.reward[:, n_days] * np.exp(0.01 * k[1]), 5), 0)
    apy = base + reward
    tvl = np.round(daily.tvl[:, n_days] * np.exp(0.01 * k[2]))
    mu, sigma, count = _expanding(record.apy)
    outlier = (mu > np.nanquantile(mu[alive], 0.99)) | (sigma > np.nanquantile(sigma[alive], 0.99))
    pct = {f"apyPct{h}D": apy - _day_values(record.apy, n_days - h) for h in (1, 7, 30)}
    apy_mean30 = _nanmean(_last_values(record.apy, 30))
    base7 = _nanmean(_last_values(record.base, 7))
    vol1 = daily.volume[:, n_days - 1]
    vol7 = np.nansum(_last_values(daily.volume[:, :n_days], 7), axis=1)
    il = -np.abs(rng.standard_normal(n)) * np.where(pools.table["ilRisk"] == "yes", 1.5, 0.02)
    out = []
    for i in np.flatnonzero(alive):
        row = pools.table.iloc[i]
        is_dex, has_reward = pools.kind[i] == 0, bool(pools.eligible[i])
        out.append(
            {
                "pool": row["pool"],
                "chain": row["chain"],
                "project": row["project"],
                "symbol": row["symbol"],
                "tvlUsd": int(tvl[i]),
                "apyBase": None if pools.apy_only[i] else _num(base[i], 5),
                "apyReward": _num(reward[i], 5) if has_reward and not pools.apy_only[i] else None,
                "apy": _num(apy[i], 5),
                "rewardTokens": [row["rewardToken"]] if has_reward and reward[i] > 0 else None,
                **{key: _num(val[i]) for key, val in pct.items()},
                "stablecoin": bool(row["stablecoin"]),
                "ilRisk": row["ilRisk"],
                "exposure": row["exposure"],
                "poolMeta": row["poolMeta"],
                "mu": _num(mu[i]),
                "sigma": _num(sigma[i]),
                "count": int(count[i]),
                "outlier": bool(outlier[i]),
                "underlyingTokens": row["underlyingTokens"],
                "il7d": _num(il[i], 5) if row["exposure"] == "multi" and is_dex else None,
                "apyBase7d": None if pools.apy_only[i] else _num(base7[i], 5),
                "apyMean30d": _num(apy_mean30[i], 5),
                "volumeUsd1d": _num(vol1[i], 0) if is_dex else None,
                "volumeUsd7d": _num(vol7[i], 0) if is_dex else None,
                "predictions": {
                    "predictedClass": None,
                    "predictedProbability": None,
                    "binnedConfidence": None,
                },
            }
        )
    return out


def _day_values(arr: np.ndarray, day: int) -> np.ndarray:
    """Column `day` of a pool x day array, all NaN when the day is before the window."""
    return arr[:, day] if day >= 0 else np.full(arr.shape[0], np.nan)


def _nanmean(arr: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN (NaN for all-NaN rows, without warnings)."""
    cnt = np.sum(~np.isnan(arr), axis=1)
    return np.where(cnt > 0, np.nansum(arr, axis=1) / np.maximum(cnt, 1), np.nan)


# --------------------------------------------------------------------------- orchestration


@dataclass
class World:
    """Everything drawn for one spec, before rows are produced."""

    spec: SampleSpec
    pools: Pools
    daily: Daily
    record: DayRecord
    rngs: dict[str, np.random.Generator]


def build_world(spec: SampleSpec) -> World:
    """Draw pools, run the daily simulation and decide which pool-days emit rows."""
    if spec.cadence not in CADENCES:
        raise ValueError(f"cadence must be one of {CADENCES}, got {spec.cadence!r}")
    if spec.n_days < 2 or spec.n_pools < 1:
        raise ValueError("need at least 1 pool and 2 days")
    rngs = _streams(spec.seed)
    pools = make_pools(rngs["pools"], spec.n_pools, spec.n_days)
    daily = simulate(rngs["sim"], pools, spec.n_days)
    daily.emitted = emission_mask(rngs["gaps"], pools, daily, spec.n_days)
    empty = np.full((spec.n_pools, spec.n_days), np.nan)
    return World(spec, pools, daily, DayRecord(apy=empty, base=empty.copy()), rngs)


def iter_history(world: World) -> Iterator[pa.Table]:
    """Time-sorted history chunks (strings/numbers exactly as written to the CSV)."""
    for days in _chunks(world.daily.emitted, world.spec):
        clean = _clean_chunk(
            world.rngs["rows"], world.pools, world.daily, days, world.spec, world.record
        )
        yield _with_faults(world.rngs["faults"], clean) if world.spec.faults else clean


def world_snapshot(world: World) -> list[dict[str, Any]]:
    """Snapshot records; call after iter_history has been consumed."""
    return snapshot_records(
        world.rngs["snapshot"], world.pools, world.daily, world.record, world.spec.n_days
    )


def generate(
    n_pools: int = 300,
    start: str = "2025-01-01",
    end: str = "2025-10-31",
    cadence: str = "sample",
    seed: int = 7,
    faults: bool = True,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """In-memory history (CSV columns, values as written) and snapshot records."""
    world = build_world(SampleSpec(n_pools, start, end, cadence, seed, faults))
    history = pa.concat_tables(list(iter_history(world))).to_pandas()
    return history, world_snapshot(world)


def _csv_bytes(table: pa.Table) -> bytes:
    """Headerless, unquoted CSV bytes of a chunk (nulls as empty fields)."""
    buf = io.BytesIO()
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    pacsv.write_csv(table, buf, options)
    return buf.getvalue()


def write(
    spec: SampleSpec, out_dir: str | Path, compresslevel: int = 6, compress: bool = True
) -> dict[str, Any]:
    """Stream the history to `pools_history.csv.gz` (or plain `.csv`) and the snapshot JSON."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(spec)
    n_rows = 0
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(
            open(out / (HISTORY_FILE if compress else PLAIN_HISTORY_FILE), "wb")
        )
        sink = raw
        if compress:
            sink = stack.enter_context(
                gzip.GzipFile(
                    filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=compresslevel
                )
            )
        sink.write((",".join(HISTORY_COLUMNS) + "\n").encode())
        for chunk in iter_history(world):
            sink.write(_csv_bytes(chunk))
            n_rows += chunk.num_rows
    snapshot = world_snapshot(world)
    (out / SNAPSHOT_FILE).write_text(json.dumps(snapshot, indent=1) + "\n")
    return {
        "rows": n_rows,
        "pools": int(world.daily.emitted.any(axis=1).sum()),
        "snapshot_pools": len(snapshot),
        "pool_days": int(world.daily.emitted.sum()),
    }


def pools_for_rows(target_rows: int, spec: SampleSpec) -> int:
    """Pool count whose history has about `target_rows` clean rows for this window/cadence."""
    probe = max(50, min(2000, target_rows // (spec.n_days * 10) + 1))
    world = build_world(SampleSpec(probe, spec.start, spec.end, spec.cadence, spec.seed, False))
    per_day = 24 if spec.cadence == "hourly" else float(SAMPLE_COUNTS_P @ np.arange(1, 7))
    rows_per_pool = world.daily.emitted.sum() * per_day / probe
    return max(1, round(target_rows / rows_per_pool))
