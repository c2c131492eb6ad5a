"""The `--config FILE` of `churnrec train`: one YAML file with a section per model kind.

Unknown keys are errors (a typo must not silently fall back to a default). Example::

    churn:
      horizon_days: 90
      model: {n_estimators: 300}
    recommender:
      model: {algorithm: als, factors: 64}
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from churnrec.training.churn import ChurnTrainConfig
from churnrec.training.recommender import RecommenderTrainConfig
from churnrec.training.repurchase import RepurchaseTrainConfig


class ConfigError(ValueError):
    """The config file cannot be read or does not match the schema."""


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    churn: ChurnTrainConfig = Field(default_factory=ChurnTrainConfig)
    repurchase: RepurchaseTrainConfig = Field(default_factory=RepurchaseTrainConfig)
    recommender: RecommenderTrainConfig = Field(default_factory=RecommenderTrainConfig)


def load_train_config(path: Path | None) -> TrainConfig:
    """Read and validate a YAML config; `None` gives the defaults."""
    if path is None:
        return TrainConfig()
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"config {path} is not valid:\n{exc}") from exc
