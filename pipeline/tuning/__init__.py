"""Hyperparameter search on the user's own data: `recsys tune` and flows/tune.py (docs/tuning.md)."""
