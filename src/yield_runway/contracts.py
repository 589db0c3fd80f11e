"""Field names of the DefiLlama yields data contracts (DESIGN.md, "Data contracts")."""

# The pools.csv history of the yield-ml datasets: one row per pool per snapshot.
HISTORY_COLUMNS = [
    "timestamp",
    "pool",
    "chain",
    "project",
    "symbol",
    "tvlUsd",
    "apy",
    "apyBase",
    "apyReward",
]

# The legacy `POST /predictions` contract: the six features of each row, in this order.
ORIGINAL_FEATURES = [
    "apy",
    "tvlUsd",
    "apyMeanExpanding",
    "apyStdExpanding",
    "chain_factorized",
    "project_factorized",
]
