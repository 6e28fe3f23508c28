"""Recommender-system MLOps pipeline: ingest -> validate -> split -> train -> evaluate -> register."""

__version__ = "0.1.0"
