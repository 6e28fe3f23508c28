"""MLflow "models from code" entry point: MLflow copies this file into every logged model and runs it
on load, so the served object is built from code rather than unpickled (see pyfunc.py)."""

import mlflow

from pipeline.registry.pyfunc import TopKRecommender

mlflow.models.set_model(TopKRecommender())
