"""The one `--config FILE` of `churnrec train`: one YAML file with a section per model kind.

Unknown keys are errors: a typo must not silently fall back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from churnrec.models.base import ModelKind
from churnrec.training.churn import ChurnTrainConfig
from churnrec.training.clv import ClvTrainConfig
from churnrec.training.demand import DemandTrainConfig
from churnrec.training.recommender import RecommenderTrainConfig
from churnrec.training.repurchase import RepurchaseTrainConfig
from churnrec.training.uplift import UpliftTrainConfig


class ConfigError(ValueError):
    """The config file cannot be read or does not match the schema."""


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    churn: ChurnTrainConfig = Field(default_factory=ChurnTrainConfig)
    repurchase: RepurchaseTrainConfig = Field(default_factory=RepurchaseTrainConfig)
    recommender: RecommenderTrainConfig = Field(default_factory=RecommenderTrainConfig)
    clv: ClvTrainConfig = Field(default_factory=ClvTrainConfig)
    uplift: UpliftTrainConfig = Field(default_factory=UpliftTrainConfig)
    demand: DemandTrainConfig = Field(default_factory=DemandTrainConfig)

    def section(self, kind: ModelKind | str) -> Any:
        """The config section of `kind` (named like the kind)."""
        return getattr(self, ModelKind(kind).value)

    def with_horizon(self, horizon_days: int) -> TrainConfig:
        """A copy with `--horizon-days` applied to every kind that has a label horizon."""
        update = {
            kind: self.section(kind).model_copy(update={"horizon_days": horizon_days})
            for kind in (ModelKind.CHURN, ModelKind.REPURCHASE, ModelKind.CLV)
        }
        return self.model_copy(update=update)

    def with_updates(self, kind: ModelKind | str, **values: Any) -> TrainConfig:
        """A copy with some fields of one section set (the CLI's per-kind flags)."""
        name = ModelKind(kind).value
        given = {k: v for k, v in values.items() if v is not None}
        section = self.section(name).model_copy(update=given)
        return self.model_copy(update={name: type(section).model_validate(section.model_dump())})


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
