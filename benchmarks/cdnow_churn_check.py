"""Real-data check: the churn job on CDNOW against the published BTYD reference points.

    .venv/bin/python benchmarks/cdnow_churn_check.py
    .venv/bin/python benchmarks/cdnow_churn_check.py --cases master-default sample-no-btyd

Each case ingests a bundled CDNOW file into a fresh workspace under benchmarks/_work/
(git-ignored), runs `training.jobs.train_models(ws, target="churn", horizon_days=181)`
(optionally with a `--config` YAML), and reads the run's metrics back from MLflow. Both files
end on 1998-06-30, so the holdout cut-off is 1997-12-31: history = 1997, horizon
1998-01-01..06-30, churned = no order in the horizon. Results replace the
`## CDNOW churn check` section of BENCHMARKS.md at the repo root.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import machine_line, replace_section

WORK = ROOT / "benchmarks" / "_work"
SECTION = "## CDNOW churn check"
HORIZON_DAYS = 181
EXPECTED_HOLDOUT = "1997-12-31"

# Published reference points for "buys again in 1998-01-01..06-30" after a 1997 calibration
# (master file), and the recency rule on the 1/10 sample.
REFERENCE = {"paretonbd": 0.800, "bgnbd": 0.788, "recency (1/10 sample)": 0.77}


@dataclass(frozen=True)
class Case:
    name: str
    sample: str  # churnrec.ingest sample name
    churn_config: dict  # the `churn:` section of the --config YAML ({} = defaults)

    @property
    def setting(self) -> str:
        if not self.churn_config:
            return "default (step 30, BG/NBD features)"
        return ", ".join(f"{k}: {v}" for k, v in self.churn_config.items())


# The defaults are step_days 30, n_train_cutoffs 4 and btyd_features [bgnbd]; each other case
# turns one of them off, so every row compares with its file's default on the same holdout.
NO_BTYD = {"btyd_features": []}
STEP_HORIZON = {"step_days": None, "btyd_features": []}
CASES = {
    c.name: c
    for c in (
        Case("master-default", "cdnow-master", {}),
        Case("master-no-btyd", "cdnow-master", NO_BTYD),
        Case("master-step-horizon", "cdnow-master", STEP_HORIZON),
        Case("sample-default", "cdnow", {}),
        Case("sample-no-btyd", "cdnow", NO_BTYD),
        Case("sample-step-horizon", "cdnow", STEP_HORIZON),
    )
}

# (label, MLflow metric key) of what the table shows, in order.
MODEL_COLUMNS = [
    ("validation ROC-AUC (chosen)", "val_roc_auc"),
    ("served ROC-AUC", "roc_auc"),
    ("ECE", "ece"),
    ("PR-AUC", "pr_auc"),
    ("Brier", "brier"),
    ("top-decile lift", "top_decile_lift"),
]
BASELINE_COLUMNS = [
    ("recency ROC-AUC", "recency_roc_auc"),
    ("BG/NBD ROC-AUC", "bgnbd_roc_auc"),
    ("Pareto/NBD ROC-AUC", "paretonbd_roc_auc"),
]


def run_case(case: Case) -> dict:
    """Fresh workspace, ingest, train churn, read metrics and params back from MLflow."""
    import mlflow
    import yaml

    from churnrec.ingest import ingest_sample
    from churnrec.training.jobs import train_models
    from churnrec.workspace import Workspace

    root = WORK / f"cdnow_{case.name.replace('-', '_')}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    ws = Workspace.at(root)
    ingest_sample(ws, case.sample)
    config_path = None
    if case.churn_config:
        config_path = root / "train.yaml"
        config_path.write_text(yaml.safe_dump({"churn": case.churn_config}))
    started = time.perf_counter()
    results = train_models(ws, target="churn", config_path=config_path, horizon_days=HORIZON_DAYS)
    wall = time.perf_counter() - started
    (outcome,) = results.outcomes
    if outcome.skipped:
        raise RuntimeError(f"{case.name}: churn training skipped: {outcome.skipped}")
    run = mlflow.MlflowClient(tracking_uri=ws.tracking_uri).get_run(outcome.run_id)
    params = run.data.params
    holdout = params.get("holdout_cutoff")
    if holdout != EXPECTED_HOLDOUT:
        raise RuntimeError(f"{case.name}: holdout cut-off {holdout}, expected {EXPECTED_HOLDOUT}")
    return {
        "case": case,
        "workspace": root,
        "config_path": config_path,
        "metrics": dict(run.data.metrics),
        "params": params,
        "run_id": outcome.run_id,
        "wall_s": wall,
    }


def _fmt(metrics: dict, key: str) -> str:
    value = metrics.get(key)
    return "n/a" if value is None else f"{value:.4f}"


def table(results: list[dict]) -> str:
    text = ["file", "setting", "train cut-offs", "learner", "BTYD features"]
    head = text + ["holdout rows", "churn rate"]
    head += [label for label, _ in MODEL_COLUMNS + BASELINE_COLUMNS]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(text) + "---:|" * (len(head) - len(text)),
    ]
    for r in results:
        m, p, case = r["metrics"], r["params"], r["case"]
        cells = [
            case.sample,
            case.setting,
            p.get("train_cutoffs", "?").replace(",", ", "),
            p.get("chosen", "?"),
            p.get("btyd_features_used") or "none",
            f"{int(m['n_holdout_rows']):,}",
            f"{m['holdout_churn_rate']:.3f}",
        ]
        cells += [_fmt(m, key) for _, key in MODEL_COLUMNS + BASELINE_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(results: list[dict]) -> list[str]:
    """Plain sentences comparing each run with its own baselines and the references."""
    out = []
    by_name = {r["case"].name: r for r in results}
    for r in results:
        m, name = r["metrics"], r["case"].name
        model, pnbd = m["roc_auc"], m.get("paretonbd_roc_auc")
        same_rows = (
            f"{model - pnbd:+.4f} vs Pareto/NBD on the same rows" if pnbd else "no Pareto/NBD"
        )
        if r["case"].sample == "cdnow-master":
            ref = f"published Pareto/NBD {REFERENCE['paretonbd']:.3f}"
        else:
            ref = f"published recency rule ~{REFERENCE['recency (1/10 sample)']:.2f}"
        best = max(m.get(f"{b}_roc_auc", float("-inf")) for b in ("recency", "bgnbd", "paretonbd"))
        verdict_word = "at least" if model >= best else "BELOW"
        out.append(
            f"- {name}: served `{r['params'].get('chosen')}` (chosen on validation), "
            f"holdout ROC-AUC {model:.4f}: {verdict_word} the best baseline's {best:.4f}."
        )
        out.append(
            f"- {name}: model ROC-AUC {model:.4f} ({same_rows}; {ref}), recency rule "
            f"{_fmt(m, 'recency_roc_auc')} ({model - m['recency_roc_auc']:+.4f}), learner "
            f"{r['params'].get('chosen')}, training {r['wall_s']:.0f} s."
        )
    comparisons = (
        ("no-btyd", "the BG/NBD features (default) vs none"),
        ("step-horizon", "step_days 30 without BTYD features vs step = horizon (one cut-off)"),
    )
    for file in ("master", "sample"):
        for other, what in comparisons:
            a = by_name.get(f"{file}-default" if other == "no-btyd" else f"{file}-no-btyd")
            b = by_name.get(f"{file}-{other}")
            if a and b:
                diff = a["metrics"]["roc_auc"] - b["metrics"]["roc_auc"]
                out.append(
                    f"- {file}: {what}: {diff:+.4f} ROC-AUC "
                    f"({a['metrics']['roc_auc']:.4f} vs {b['metrics']['roc_auc']:.4f})."
                )
    return out


def render(results: list[dict], started: datetime, load: tuple[float, float, float]) -> str:
    cases = " ".join(r["case"].name for r in results)
    return "\n".join(
        [
            (
                f"`benchmarks/cdnow_churn_check.py`, run {started:%Y-%m-%d %H:%M} on: {machine_line()}; "
                f"load average at the start: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}."
            ),
            "",
            "Reproduce:",
            "",
            "```bash",
            f".venv/bin/python benchmarks/cdnow_churn_check.py --cases {cases}",
            "# the same by hand, e.g. the master file with the defaults, then without BTYD features:",
            "churnrec ingest --sample cdnow-master --workspace /tmp/cdnow",
            "churnrec train churn --workspace /tmp/cdnow --horizon-days 181",
            "printf 'churn:\\n  btyd_features: []\\n' > /tmp/cdnow/train.yaml",
            (
                "churnrec train churn --workspace /tmp/cdnow --horizon-days 181 "
                "--config /tmp/cdnow/train.yaml"
            ),
            "```",
            "",
            (
                f"Both files end on 1998-06-30; `--horizon-days {HORIZON_DAYS}` puts the holdout "
                f"cut-off at {EXPECTED_HOLDOUT} (history = all of 1997, horizon 1998-01-01..06-30, "
                "churned = no order in the horizon; checked from the run's `holdout_cutoff` "
                "param). Three-way split: training cut-offs, validation cut-off 1997-07-03 (every "
                "choice: learner, early stopping, calibration, trained model vs rule; its label "
                "windows overlap the training ones, so it uses customers kept out of training), "
                "holdout 1997-12-31 (only reported). Candidates: LightGBM, XGBoost, a logistic "
                "regression on recency/repeat days/tenure, and the rules themselves (recency, "
                "BG/NBD, Pareto/NBD). Every number below is read back from the MLflow run (keys `roc_auc`, "
                "`pr_auc`, `brier`, `top_decile_lift`, `recency_roc_auc`, `bgnbd_roc_auc`, "
                "`paretonbd_roc_auc`); the baselines are scored on the same holdout rows as the "
                "model. Defaults: `step_days: 30` fits four training cut-offs (overlapping label "
                "windows, all ending on or before the holdout cut-off; stepping by the horizon, "
                "181 days, leaves room for one) and `btyd_features: [bgnbd]` stacks a BG/NBD fit "
                "under the trees: at every cut-off it is fitted on that cut-off's snapshot "
                "(history up to T only) and its P(alive), P(purchase within the horizon) and "
                "expected purchases join that cut-off's rows; the fit at the holdout cut-off "
                "travels with the model, which scores the holdout with it. The chosen model's "
                "BTYD kinds are the run param `btyd_features_used`."
            ),
            "",
            table(results),
            "",
            (
                "Published reference points (1997 calibration, 1998-01..06 holdout): Pareto/NBD "
                f"ROC-AUC ~{REFERENCE['paretonbd']:.3f}, BG/NBD ~{REFERENCE['bgnbd']:.3f} (master "
                f"file); recency rule ~{REFERENCE['recency (1/10 sample)']:.2f} (1/10 sample)."
            ),
            "",
            *verdict(results),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", nargs="+", choices=list(CASES), default=list(CASES), help="which runs"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not edit BENCHMARKS.md")
    args = parser.parse_args(argv)
    started, load = datetime.now(), os.getloadavg()
    results = []
    for name in args.cases:
        print(f"== {name}", flush=True)
        results.append(run_case(CASES[name]))
    body = render(results, started, load)
    print(body)
    if not args.no_write:
        replace_section(ROOT / "BENCHMARKS.md", SECTION, body)
        print(f"wrote {SECTION} to BENCHMARKS.md")


if __name__ == "__main__":
    main()
