"""Build a small trained workspace once: generate -> ingest -> features -> train the models
the serving and scoring tests read (churn, repurchase, recommender; CLV and uplift are
trained where a test is about them).

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
    for kind in ("churn", "repurchase", "recommender"):
        train_models(ws, target=kind)
    return ws
