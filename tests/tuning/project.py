"""A tiny but real project for the tuning tests: seeded synthetic interactions split by the real regime code
into data/splits, its item and user tables in data/processed, a params.yaml with small models and spaces
(with its comments, so the tests can see that writing tuned settings keeps them), and a SQLite MLflow store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient

from pipeline import paths
from pipeline.config import DataParams, SyntheticParams
from pipeline.data.filtering import prepare
from pipeline.data.regimes import build_regimes
from pipeline.data.sources.synthetic import generate

EXPERIMENT = "tests-tuning"
MULTVAE_EPOCHS = 6
PARAMS_YAML = f"""\
seed: 7
evaluation:
  sampled_negatives: 0        # the catalogue is smaller than 99 negatives
models:                       # kept as the user wrote them
  popularity: {{}}
  ease: {{l2: 500.0}}           # the current EASE setting
  multvae: {{hidden_sizes: [32], latent_dim: 8, batch_size: 32, epochs: {MULTVAE_EPOCHS}, patience: {MULTVAE_EPOCHS}, learning_rate: 0.003}}
tune:
  trials: 5
  experiment: {EXPERIMENT}
  pruner: {{kind: median, startup_trials: 1, warmup_epochs: 1}}
  spaces:
    popularity: {{}}
    ease: {{l2: {{low: 1.0, high: 1.0e+4, log: true}}}}
    multvae:                  # a wide learning-rate range: its low end trains too slowly and is pruned
      learning_rate: {{low: 1.0e-6, high: 1.0e-1, log: true}}
      dropout: {{low: 0.2, high: 0.9}}
      latent_dim: {{choices: [4, 8, 16]}}
"""


@dataclass(frozen=True)
class TuningProject:
    root: Path

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def params_file(self) -> Path:
        return self.root / paths.PARAMS_FILE

    def client(self) -> MlflowClient:
        return MlflowClient(self.tracking_uri)


def make_project(root: Path) -> TuningProject:
    tables = generate(SyntheticParams(interactions=4_000, users=160, items=60, clusters=4, seed=3))
    interactions = prepare(tables.interactions.lazy(), DataParams())
    regimes = build_regimes(interactions, valid_fraction=0.1, test_fraction=0.1, cold_user_fraction=0.1,
                            cold_item_fraction=0.1, cold_valid_share=0.5, reveal=(1,), sparsity=(),
                            leave_last_out=False, seed=7)
    regimes.write(root / paths.SPLITS_DIR)
    (root / paths.PROCESSED_DIR).mkdir(parents=True)
    tables.items.write_parquet(root / paths.ITEMS_FILE)
    tables.users.write_parquet(root / paths.USERS_FILE)
    (root / paths.PARAMS_FILE).write_text(PARAMS_YAML, encoding="utf-8")
    return TuningProject(root)
