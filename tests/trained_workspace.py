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
    from churnrec.ingest import ingest
    from churnrec.synthetic import ShopConfig, generate_shop, write_shop
    from churnrec.training.jobs import train_models

    ws = Workspace.at(root)
    files = write_shop(
        generate_shop(ShopConfig(n_customers=N_CUSTOMERS, seed=SEED)), root / "shop", "csv"
    )
    ingest(
        ws,
        files["orders"],
        customers=files["customers"],
        items=files["items"],
        events=files["events"],
    )
    run_features(ws)
    train_models(ws, target="all")
    return ws
