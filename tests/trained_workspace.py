"""Build a small, fully trained workspace once: generate -> ingest -> features -> train all.

Shared by the serving and scoring tests, which need real models in a real MLflow registry.
"""

from __future__ import annotations

from pathlib import Path

from churnrec.workspace import Workspace

N_CUSTOMERS = 800
SEED = 11


def build_trained_workspace(root: Path) -> Workspace:
    from churnrec.features.pipeline import run_features
    from churnrec.synthetic import ShopConfig
    from churnrec.training.jobs import train_models
    from tests.generated_shop import ingested_shop

    ws = ingested_shop(root, ShopConfig(n_customers=N_CUSTOMERS, seed=SEED))
    run_features(ws)
    train_models(ws, target="all")
    return ws
