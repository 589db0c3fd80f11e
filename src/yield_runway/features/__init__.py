"""Per-pool features on a daily grid: the one code path shared by training and inference."""
