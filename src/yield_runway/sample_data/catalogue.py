"""Static reference tables for the sample generator: chains, projects, tokens."""

from __future__ import annotations

# Share of pools per chain in a real DefiLlama snapshot (REAL_DATA_PROFILE.md); the long tail
# below the top eight is spread over chains that real multi-chain projects deploy to. Solana and
# Ethereum sit a little below their real shares because every category serves them while long-tail
# chains lack some categories, which shifts draws towards them (net result ~28.6% / 21.5%).
CHAIN_SHARES: dict[str, float] = {
    "Solana": 0.242,
    "Ethereum": 0.190,
    "Base": 0.131,
    "Arbitrum": 0.081,
    "Optimism": 0.033,
    "Polygon": 0.033,
    "Sui": 0.029,
    "Avalanche": 0.029,
    "BSC": 0.035,
    "Hyperliquid": 0.015,
    "Sonic": 0.015,
    "Aptos": 0.010,
    "Mantle": 0.010,
    "Linea": 0.010,
    "Scroll": 0.008,
    "Blast": 0.008,
    "zkSync Era": 0.008,
    "Tron": 0.007,
    "Gnosis": 0.006,
    "Celo": 0.005,
}

# Category -> (share of pools, simulation kind).
CATEGORIES: dict[str, tuple[float, str]] = {
    "Dexs": (0.71, "dex"),
    "Lending": (0.093, "lending"),
    "Yield": (0.068, "yield"),
    "Yield Aggregator": (0.066, "aggregator"),
    "Liquid Staking": (0.063, "staking"),
}

_EVM_L2 = ["Base", "Arbitrum", "Optimism", "Polygon", "Avalanche", "BSC"]

# (project slug, category, chains, popularity weight). Weights make pools-per-project skewed.
PROJECTS: list[tuple[str, str, list[str], float]] = [
    ("uniswap-v3", "Dexs", ["Ethereum", *_EVM_L2, "Celo", "Blast", "zkSync Era", "Linea"], 10),
    ("uniswap-v2", "Dexs", ["Ethereum", "Base", "Arbitrum"], 3),
    ("raydium-amm", "Dexs", ["Solana"], 10),
    ("orca-dex", "Dexs", ["Solana"], 7),
    ("meteora-dlmm", "Dexs", ["Solana"], 8),
    ("meteora-pools", "Dexs", ["Solana"], 3),
    ("lifinity-v2", "Dexs", ["Solana"], 1),
    ("pancakeswap-amm-v3", "Dexs", ["BSC", "Ethereum", "Base", "Arbitrum", "Linea", "Aptos"], 5),
    ("curve-dex", "Dexs", ["Ethereum", "Arbitrum", "Optimism", "Polygon", "Base", "Gnosis"], 4),
    ("aerodrome-v2", "Dexs", ["Base"], 6),
    ("aerodrome-slipstream", "Dexs", ["Base"], 4),
    ("velodrome-v2", "Dexs", ["Optimism"], 4),
    ("sushiswap", "Dexs", ["Ethereum", "Arbitrum", "Polygon", "Base", "Avalanche"], 2),
    ("balancer-v2", "Dexs", ["Ethereum", "Arbitrum", "Polygon", "Gnosis", "Avalanche"], 2),
    ("camelot-v3", "Dexs", ["Arbitrum"], 2),
    ("quickswap-dex", "Dexs", ["Polygon"], 2),
    ("trader-joe-dex", "Dexs", ["Avalanche", "Arbitrum"], 2),
    ("cetus-amm", "Dexs", ["Sui"], 4),
    ("bluefin-spot", "Dexs", ["Sui"], 1),
    ("shadow-exchange", "Dexs", ["Sonic"], 2),
    ("merchant-moe-dex", "Dexs", ["Mantle"], 1),
    ("hyperswap-v3", "Dexs", ["Hyperliquid"], 1),
    ("thena-v1", "Dexs", ["BSC"], 1),
    ("sunswap-v2", "Dexs", ["Tron"], 1),
    ("thruster-v3", "Dexs", ["Blast"], 1),
    ("lynex", "Dexs", ["Linea"], 1),
    ("liquidswap", "Dexs", ["Aptos"], 1),
    ("aave-v3", "Lending", ["Ethereum", *_EVM_L2, "Gnosis", "Scroll", "zkSync Era", "Sonic"], 6),
    ("compound-v3", "Lending", ["Ethereum", "Base", "Arbitrum", "Polygon", "Optimism"], 3),
    ("morpho-blue", "Lending", ["Ethereum", "Base"], 4),
    ("kamino-lend", "Lending", ["Solana"], 5),
    ("marginfi-lending", "Lending", ["Solana"], 2),
    ("save", "Lending", ["Solana"], 1),
    ("euler-v2", "Lending", ["Ethereum", "Sonic"], 2),
    ("fluid-lending", "Lending", ["Ethereum", "Arbitrum", "Base"], 1),
    ("navi-lending", "Lending", ["Sui"], 2),
    ("suilend", "Lending", ["Sui"], 2),
    ("benqi-lending", "Lending", ["Avalanche"], 1),
    ("venus-core-pool", "Lending", ["BSC"], 2),
    ("moonwell-lending", "Lending", ["Base", "Optimism"], 1),
    ("justlend", "Lending", ["Tron"], 1),
    ("hyperlend-pooled", "Lending", ["Hyperliquid"], 1),
    ("aries-markets", "Lending", ["Aptos"], 1),
    ("pendle", "Yield", ["Ethereum", "Arbitrum", "Base", "BSC", "Sonic", "Mantle"], 6),
    ("kamino-liquidity", "Yield", ["Solana"], 4),
    ("convex-finance", "Yield", ["Ethereum", "Arbitrum"], 2),
    ("stake-dao", "Yield", ["Ethereum"], 1),
    ("gamma", "Yield", ["Polygon", "Arbitrum", "Base"], 1),
    ("ethena-usde", "Yield", ["Ethereum"], 1),
    ("hyperliquid-hlp", "Yield", ["Hyperliquid"], 1),
    ("beefy", "Yield Aggregator", [*_EVM_L2, "Ethereum", "Sonic", "Linea", "Mantle", "Scroll"], 6),
    ("yearn-finance", "Yield Aggregator", ["Ethereum", "Arbitrum", "Polygon", "Base"], 2),
    ("harvest-finance", "Yield Aggregator", ["Ethereum", "Base", "Arbitrum", "Polygon"], 1),
    ("sommelier", "Yield Aggregator", ["Ethereum", "Arbitrum"], 1),
    ("lulo", "Yield Aggregator", ["Solana"], 2),
    ("kai-finance", "Yield Aggregator", ["Sui"], 1),
    ("lido", "Liquid Staking", ["Ethereum"], 1),
    ("jito-liquid-staking", "Liquid Staking", ["Solana"], 1),
    ("marinade-liquid-staking", "Liquid Staking", ["Solana"], 1),
    ("sanctum-infinity", "Liquid Staking", ["Solana"], 2),
    ("rocket-pool", "Liquid Staking", ["Ethereum"], 1),
    ("benqi-staked-avax", "Liquid Staking", ["Avalanche"], 1),
    ("haedal-protocol", "Liquid Staking", ["Sui"], 1),
    ("stader", "Liquid Staking", ["Ethereum", "Polygon", "BSC"], 1),
]

STABLES: dict[str, list[str]] = {
    "Solana": ["USDC", "USDT", "PYUSD", "USDS"],
    "Sui": ["USDC", "USDT", "AUSD"],
    "Tron": ["USDT", "USDD"],
    "Aptos": ["USDC", "USDT"],
    "default": ["USDC", "USDT", "DAI", "USDE", "FRAX", "GHO", "USDC.E", "SUSDE"],
}

VOLATILES: dict[str, list[str]] = {
    "Solana": ["SOL", "JUP", "BONK", "WIF", "JTO", "RAY", "PYTH", "TRUMP", "POPCAT", "JITOSOL"],
    "Ethereum": ["WETH", "WBTC", "WSTETH", "LINK", "UNI", "AAVE", "PEPE", "ENA", "CRV", "CBBTC"],
    "Base": ["WETH", "CBBTC", "AERO", "VIRTUAL", "BRETT", "DEGEN", "CBETH", "WELL"],
    "Arbitrum": ["WETH", "ARB", "WBTC", "GMX", "PENDLE", "MAGIC"],
    "Optimism": ["WETH", "OP", "VELO", "WBTC"],
    "Polygon": ["WPOL", "WETH", "WBTC", "QUICK"],
    "Sui": ["SUI", "CETUS", "DEEP", "NAVX", "HASUI"],
    "Avalanche": ["WAVAX", "SAVAX", "JOE", "BTC.B"],
    "BSC": ["WBNB", "CAKE", "BTCB", "ETH"],
    "Hyperliquid": ["WHYPE", "UBTC", "UETH"],
    "Sonic": ["WS", "SHADOW", "WETH"],
    "Tron": ["WTRX", "SUN", "BTT"],
    "Aptos": ["APT", "THL"],
    "default": ["WETH", "WBTC"],
}

STAKED: dict[str, list[str]] = {
    "Solana": ["JITOSOL", "MSOL", "INF", "BSOL"],
    "Ethereum": ["STETH", "RETH", "ETHX", "WBETH"],
    "Avalanche": ["SAVAX"],
    "Sui": ["HASUI"],
    "Polygon": ["MATICX"],
    "BSC": ["BNBX"],
    "default": ["STETH"],
}

STABLE_SYMBOLS: frozenset[str] = frozenset(
    s for chain_list in STABLES.values() for s in chain_list
) | {"USDD", "AUSD"}

# Concentrated-liquidity DEXes publish their fee tier as poolMeta.
FEE_TIER_PROJECTS: frozenset[str] = frozenset(
    {
        "uniswap-v3",
        "pancakeswap-amm-v3",
        "aerodrome-slipstream",
        "orca-dex",
        "meteora-dlmm",
        "camelot-v3",
        "hyperswap-v3",
        "thruster-v3",
    }
)
