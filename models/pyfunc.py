"""The MLflow pyfunc wrapper around a churnrec model folder.

MLflow stores the churnrec model's own `save` folder unchanged as the artifact "model"; this
wrapper only knows how to load it back with the right class and how to answer `predict` for
`mlflow models serve` or batch scoring. The churnrec object itself stays reachable as `.model`,
which is what churnrec's serving layer uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from churnrec import columns as C
from churnrec.models.base import MODEL_CLASSES, ModelKind, resolve_class

MODEL_ARTIFACT = "model"  # key of the model folder in `artifacts=` and in `context.artifacts`
P_CHURN = "p_churn"
RECOMMENDED_ITEM_IDS = "item_ids"
K = "k"
DEFAULT_K = 10


def predict_frame(model: Any, kind: ModelKind, model_input: pd.DataFrame) -> pd.DataFrame:
    """One answer per input row, as a frame (the same function gives the signature's output).

    churn: `p_churn` (plus `customer_id` when given); repurchase: the model's `predict` frame;
    recommender: input rows of `customer_id` (and optional `k`) -> `item_ids`, a list per row.
    """
    kind = ModelKind(kind)
    if kind is ModelKind.CHURN:
        out = pd.DataFrame({P_CHURN: model.predict_proba(model_input)}, index=model_input.index)
        if C.CUSTOMER_ID in model_input.columns:
            out.insert(0, C.CUSTOMER_ID, model_input[C.CUSTOMER_ID].to_numpy())
        return out.reset_index(drop=True)
    if kind is ModelKind.REPURCHASE:
        return pd.DataFrame(model.predict(model_input)).reset_index(drop=True)
    if kind in (ModelKind.CLV, ModelKind.UPLIFT):
        return pd.DataFrame({kind.value: model.predict(model_input)}).reset_index(drop=True)
    if C.CUSTOMER_ID not in model_input.columns:
        raise ValueError(
            f"recommender input needs a {C.CUSTOMER_ID!r} column; got {list(model_input.columns)}"
        )
    ks = (
        model_input[K]
        if K in model_input.columns
        else pd.Series(DEFAULT_K, index=model_input.index)
    )
    item_ids = [
        [rec.item_id for rec in model.recommend(str(customer_id), k=int(k))]
        for customer_id, k in zip(model_input[C.CUSTOMER_ID], ks, strict=True)
    ]
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: model_input[C.CUSTOMER_ID].astype(str).to_numpy(),
            RECOMMENDED_ITEM_IDS: item_ids,
        }
    )


class ChurnrecPyfunc(mlflow.pyfunc.PythonModel):
    """Pickled by MLflow with only `kind` and an optional class path; the model is the artifact.

    `model_class` (`module:Class`) overrides `MODEL_CLASSES[kind]`; leave it None for the
    production classes so that moving a class only needs `MODEL_CLASSES` updated.
    """

    def __init__(self, kind: ModelKind | str, model_class: str | None = None) -> None:
        self.kind = ModelKind(kind)
        self.model_class = model_class
        self.model: Any = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        cls = resolve_class(self.model_class or MODEL_CLASSES[self.kind])
        self.model = cls.load(Path(context.artifacts[MODEL_ARTIFACT]))

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        if self.model is None:
            raise RuntimeError("ChurnrecPyfunc.predict called before load_context loaded the model")
        return predict_frame(self.model, self.kind, model_input)
