"""How a churnrec model is written into (and read back from) the MLflow store: a pyfunc with
its own code copy and pinned requirements, so it loads without a churnrec checkout."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

import churnrec
import churnrec.models
from churnrec import columns as C
from churnrec.models.base import MODEL_CLASSES, ModelKind, class_path, resolve_class
from churnrec.models.pyfunc import MODEL_ARTIFACT, ChurnrecPyfunc

MODEL_NAME_IN_RUN = "model"
META_KIND = "churnrec_kind"
META_CLASS = "churnrec_class"
META_VERSION = "churnrec_version"
# What loading and predicting with a churnrec model needs besides its logged code. Listed here
# because MLflow's own inference starts a subprocess that imports the model: seconds per log.
MODEL_RUNTIME_PACKAGES = (
    "mlflow",
    "cloudpickle",
    "pandas",
    "numpy",
    "pyarrow",
    "scipy",
    "scikit-learn",
    "xgboost-cpu",
    "xgboost",
    "lightgbm",
    "implicit",
    "pydantic",
    "threadpoolctl",
)
# Columns holding a person's (or an order's) identifier: replaced in stored examples.
_ID_COLUMNS = frozenset({C.CUSTOMER_ID, C.ORDER_ID, C.LINE_ID, C.SESSION_ID})
# The ground-floor modules that `churnrec.models` imports (besides itself).
_CODE_MODULES = ("__init__.py", "columns.py", "settings.py", "progress.py", "btyd_summary.py")


@functools.cache
def model_pip_requirements() -> tuple[str, ...]:
    """`name==version` of the installed `MODEL_RUNTIME_PACKAGES` (absent ones are skipped)."""
    pins = []
    for package in MODEL_RUNTIME_PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            pins.append(f"{package}=={importlib.metadata.version(package)}")
    return tuple(pins)


def stage_model_code(into: Path) -> Path:
    """Copy `churnrec/{__init__,columns}.py` and `churnrec/models/` into `into/churnrec`."""
    package = Path(churnrec.__file__).resolve().parent
    target = into / "churnrec"
    target.mkdir(parents=True)
    for name in _CODE_MODULES:
        shutil.copy2(package / name, target / name)
    models_dir = Path(churnrec.models.__file__).resolve().parent
    shutil.copytree(
        models_dir, target / "models", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return target


def model_signature(input_example: pd.DataFrame, output_example: Any) -> Any:
    """The signature MLflow infers, with pandas extension columns (nullable bool/int, category)
    typed `Any`: MLflow cannot enforce those when they hold NA and would refuse the example."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    signature = infer_signature(input_example, output_example)
    if not isinstance(input_example, pd.DataFrame) or signature.inputs is None:
        return signature
    loose = {
        str(name)
        for name, dtype in input_example.dtypes.items()
        if isinstance(dtype, pd.api.extensions.ExtensionDtype)
        and not pd.api.types.is_string_dtype(dtype)
    }
    if not loose:
        return signature
    specs = [
        ColSpec(AnyType(), spec.name, required=False) if spec.name in loose else spec
        for spec in signature.inputs.inputs
    ]
    return ModelSignature(inputs=Schema(specs), outputs=signature.outputs, params=signature.params)


EXAMPLE_ID_PREFIX = "example-"


def synthetic_example(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that look like the input but belong to nobody: MLflow stores the example in plain text.
    Quartiles of numbers and dates, the most common other value, and ids `example-1`, ..."""
    quantiles = [0.25, 0.5, 0.75]
    out: dict[str, Any] = {}
    for name in frame.columns:
        column = frame[name]
        if name in _ID_COLUMNS:
            out[name] = [f"{EXAMPLE_ID_PREFIX}{i + 1}" for i in range(len(quantiles))]
        elif pd.api.types.is_bool_dtype(column) or column.dropna().empty:
            mode = column.mode(dropna=True)
            out[name] = [mode.iloc[0] if len(mode) else None] * len(quantiles)
        elif pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
            values = column.dropna().quantile(quantiles, interpolation="nearest")
            out[name] = list(values.to_numpy())
        else:
            out[name] = [column.mode(dropna=True).iloc[0]] * len(quantiles)
    example = pd.DataFrame(out)
    return example.astype(frame.dtypes.to_dict(), errors="ignore")


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Raise one logger to ERROR for the duration (MLflow's INFO/WARNING chatter)."""
    logger = logging.getLogger(logger_name)
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def log_churnrec_model(
    model: Any,
    kind: ModelKind | str,
    *,
    input_example: pd.DataFrame,
    output_example: Any = None,
) -> str:
    """Package a fitted churnrec model as an MLflow pyfunc in the active run; return its URI.
    Only a `synthetic_example` of `input_example` is stored; the class goes by import path."""
    import mlflow.pyfunc

    kind = ModelKind(kind)
    model_class = class_path(type(model))
    override = None if model_class == MODEL_CLASSES[kind] else model_class
    input_example = synthetic_example(input_example)
    if output_example is None:
        output_example = model.answer(input_example)
    with tempfile.TemporaryDirectory(prefix="churnrec-model-") as tmp:
        folder = Path(tmp) / MODEL_ARTIFACT
        folder.mkdir()
        model.save(folder)
        code = stage_model_code(Path(tmp) / "code")
        with warnings.catch_warnings(), _quiet("mlflow.pyfunc"), _quiet("mlflow.models.model"):
            # Known and handled: integer-column hint (signature types nullable columns as Any)
            # and the CloudPickle notice (the pickled wrapper only holds the kind and a path).
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME_IN_RUN,
                python_model=ChurnrecPyfunc(kind, model_class=override),
                artifacts={MODEL_ARTIFACT: str(folder)},
                code_paths=[str(code)],
                signature=model_signature(input_example, output_example),
                input_example=input_example,
                pip_requirements=list(model_pip_requirements()),
                metadata={
                    META_KIND: kind.value,
                    META_CLASS: model_class,
                    META_VERSION: churnrec.__version__,
                },
            )
    return info.model_uri


def load_model_folder(model_dir: Path) -> Any:
    """The churnrec object of a logged model folder (the one holding `MLmodel`)."""
    from mlflow.models import Model

    meta = Model.load(str(model_dir / "MLmodel"))
    info = meta.metadata or {}
    kind = ModelKind(info[META_KIND])
    cls = resolve_class(info.get(META_CLASS) or MODEL_CLASSES[kind])
    artifacts = meta.flavors["python_function"]["artifacts"]
    return cls.load(model_dir / artifacts[MODEL_ARTIFACT]["path"])
