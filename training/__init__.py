"""Training jobs: time-based splits, models fitted and compared with baselines, tracked in MLflow."""
