"""Prefect orchestration of the DVC pipeline: the retrain flow and its scheduled deployment."""
