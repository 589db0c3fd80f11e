"""Building blocks for pulling the DefiLlama yields API: rate limiter, HTTP client, payload
validation, a resumable per-pool partition store and the concurrent chart fetcher."""
