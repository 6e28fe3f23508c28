"""Model name -> class. Adding a model family means adding its class here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipeline.models.base import Recommender, read_description
from pipeline.models.bpr import BPR
from pipeline.models.caser import Caser
from pipeline.models.cdae import CDAE
from pipeline.models.cfgan import CFGAN
from pipeline.models.cold_gan import ColdGAN
from pipeline.models.content import ContentTFIDF
from pipeline.models.ease import EASE
from pipeline.models.gan_augmentation import GANAugmented
from pipeline.models.gar import GAR
from pipeline.models.irgan import IRGAN
from pipeline.models.item_knn import ItemKNN
from pipeline.models.jncf import JNCF
from pipeline.models.mult_vae import MultDAE, MultVAE
from pipeline.models.ncf import GMF, MLP, NeuMF
from pipeline.models.popularity import Popularity
from pipeline.models.recvae import RecVAE
from pipeline.models.rnn import GRU4Rec, LSTMRec, UserGRU
from pipeline.models.sasrec import SASRec
from pipeline.models.text_cnn import TextCNNHybrid
from pipeline.models.time_lstm import TimeLSTM
from pipeline.models.two_tower import TwoTower

MODEL_CLASSES: dict[str, type[Recommender]] = {cls.name: cls for cls in (Popularity, ItemKNN, BPR, EASE, ContentTFIDF,
                                                                  GRU4Rec, LSTMRec, TimeLSTM, UserGRU, Caser, SASRec, TextCNNHybrid,
                                                                  GMF, MLP, NeuMF, JNCF, TwoTower,
                                                                  CDAE, MultDAE, MultVAE, RecVAE,
                                                                  CFGAN, IRGAN, ColdGAN, GAR, GANAugmented)}


def model_class(model_type: str) -> type[Recommender]:
    try:
        return MODEL_CLASSES[model_type]
    except KeyError:
        known = ", ".join(sorted(MODEL_CLASSES))
        raise ValueError(f"unknown model '{model_type}'; known models: {known}") from None


def create_model(
    name: str, params: dict[str, Any], n_users: int, n_items: int, device: torch.device | str, seed: int,
    max_seconds: float | None = None,
) -> Recommender:
    """Build the model configured under `models.<name>` in params.yaml (`model:` names the class when
    `name` is an alias, e.g. two EASE variants with different l2). `seed` and `max_seconds` (train.max_seconds)
    are the pipeline-wide defaults of the models that take them; the model's own settings win."""
    params = dict(params)
    cls = model_class(params.pop("model", name))
    if "seed" in cls.Config.model_fields:
        params.setdefault("seed", seed)
    if max_seconds and "max_seconds" in cls.Config.model_fields:
        params.setdefault("max_seconds", max_seconds)
    config = cls.Config.model_validate(params)
    return cls(config, n_users, n_items, device)


def load_model(directory: Path, device: torch.device | str = "cpu") -> Recommender:
    """Rebuild a trained model from its JSON description and state_dict (no pickles)."""
    description = read_description(directory)
    cls = model_class(description["model"])
    return cls.from_description(description, device).load_weights(directory)
