"""List registered models and move the champion by hand: `list`, `promote KIND VERSION`, `rollback KIND`.

`promote recommender VERSION --alias challenger` makes VERSION the challenger that an online A/B
(`experiments: {recommender: {challenger_share: 0.1}}` in the serving config) serves;
`promote recommender --from-readout` promotes that challenger only when `churnrec recs
readout` shows a purchase (converted) lift whose 95% interval is above zero, else says why.

`list` shows per kind every version with its aliases, headline metric, quality band (`unknown`
for versions trained before bands existed), holdout and whether it is a simple rule; `promote` makes a version the champion, `rollback` moves the champion back to
`previous_champion`. Each change is recorded in MLflow tags (the version's `promotion_reason`,
the registered model's `last_action`); a running `churnrec serve` follows within its reload
interval.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path

import typer

from churnrec.cli.commands._errors import exit_on_user_error, register_user_error
from churnrec.cli.commands.score import parse_as_of
from churnrec.models.base import ModelKind

KINDS = tuple(kind.value for kind in ModelKind)


class Action(StrEnum):
    list = "list"
    promote = "promote"
    rollback = "rollback"


def list_lines(workspace: Path, kinds: tuple[str, ...] = KINDS) -> list[str]:
    """One header line per kind, one line per version (newest first)."""
    from churnrec.store.registry import Tag, aliases, list_versions

    lines = []
    for kind in kinds:
        versions = list_versions(workspace, kind)
        if not versions:
            lines.append(f"{kind}: no registered versions")
            continue
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases(workspace, kind).items():
            by_version.setdefault(version, []).append(f"@{alias}")
        lines.append(f"{kind}:")
        for v in versions:
            tags = dict(v.tags)
            metric = tags.get("metric", "?")
            value = tags.get("metric_value", "nan")
            rule = tags.get("baseline_strategy", "none")
            served = f" rule={rule}" if tags.get("is_baseline") == "true" else ""
            dates = ""
            if "trained_through" in tags:
                dates = (
                    f" trained_through={tags['trained_through']}"
                    f" evaluated_on={tags.get('evaluated_on', '?')}"
                )
            quality = tags.get(Tag.QUALITY, "unknown")
            lines.append(
                f"  v{v.version:<4} {' '.join(sorted(by_version.get(str(v.version), []))):<30} "
                f"{metric}={float(value):.4f} quality={quality} "
                f"holdout={tags.get('holdout_id', '?')}{dates}{served}"
            )
    return lines


def command(
    action: Action = typer.Argument(..., help="list | promote | rollback"),
    kind: str | None = typer.Argument(None, help="churn, repurchase, recommender, clv or uplift"),
    version: str | None = typer.Argument(None, help="version number (promote only)"),
    alias: str = typer.Option(
        "champion",
        "--alias",
        help="promote: champion, or challenger (served to the online A/B's share).",
    ),
    from_readout: bool = typer.Option(
        False,
        "--from-readout",
        help="promote: the recommender's @challenger, only if the online read-out "
        "(`churnrec recs readout`) shows a purchase lift whose 95% interval excludes zero.",
    ),
    since: str | None = typer.Option(
        None, "--since", help="--from-readout: answers from this date YYYY-MM-DD on."
    ),
    workspace: Path = typer.Option(Path("."), "--workspace", help="Workspace folder."),
) -> None:
    from mlflow.exceptions import MlflowException

    from churnrec.store.registry import ModelNotFoundError, store_exists
    from churnrec.store.tracking import mark_dead_runs
    from churnrec.training.promotion import (
        PromotionRefused,
        close_undecided_versions,
        promote_version,
        rollback,
        set_challenger,
    )

    register_user_error(PromotionRefused)
    since_date = parse_as_of(since, "--since")

    with exit_on_user_error():
        if not store_exists(workspace):
            raise FileNotFoundError(
                f"no model store in {workspace}/mlruns; run `churnrec train` first"
            )
        mark_dead_runs(workspace)
        close_undecided_versions(workspace, KINDS)
        if action is Action.list:
            for line in list_lines(workspace, (kind,) if kind else KINDS):
                typer.echo(line)
            return
        if kind is None:
            raise typer.BadParameter(f"`churnrec models {action.value}` needs a KIND")
        try:
            if action is Action.promote and from_readout:
                typer.echo(_promote_from_readout(workspace, kind, since_date))
            elif action is Action.promote and alias == "challenger":
                if version is None:
                    raise typer.BadParameter("`--alias challenger` needs KIND and VERSION")
                typer.echo(set_challenger(workspace, kind, version.removeprefix("v")))
            elif action is Action.promote:
                if alias != "champion":
                    raise typer.BadParameter(f"--alias must be champion or challenger, got {alias}")
                if version is None:
                    raise typer.BadParameter("`churnrec models promote` needs KIND and VERSION")
                typer.echo(promote_version(workspace, kind, version.removeprefix("v")))
            else:
                typer.echo(rollback(workspace, kind))
        except (ModelNotFoundError, MlflowException) as exc:
            raise FileNotFoundError(f"{kind} {version or ''}: {exc}".strip()) from None


def _promote_from_readout(workspace: Path, kind: str, since: dt.date | None) -> str:
    """Read the recommender's arms out now and promote the challenger if it clearly won."""
    from churnrec.insights.recommendations_online import ReadoutError, recs_readout
    from churnrec.serving.impressions import CHALLENGER_ARM
    from churnrec.training.promotion import promote_challenger_online

    if kind != ModelKind.RECOMMENDER:
        raise typer.BadParameter("--from-readout promotes the recommender only")
    register_user_error(ReadoutError)
    result = recs_readout(workspace, since=since)
    return promote_challenger_online(
        workspace,
        kind,
        result.ab,
        outcome="converted",
        challenger_versions=result.arms.get(CHALLENGER_ARM, []),
        note=result.ab_note,
    )
