"""The retention-value end of `churnrec demo`: the shop's past campaign read out, CLV and uplift
trained on it, and a target list, each summed up in a line.
"""

from __future__ import annotations

from churnrec import columns as C
from churnrec.workspace import Workspace

DEMO_CAMPAIGN_SIZE = 500


def run_value_demo(ws: Workspace, tables, clv_config=None, clv=None) -> list[str]:
    """Campaign read-out, CLV, uplift and a target list on the demo's `tables`; summary lines.
    `clv`: the CLV result when `train all` already trained it (else trained here)."""
    from churnrec.files import owner_only_umask
    from churnrec.insights.campaigns import campaign_readout
    from churnrec.serving.targeting import build_target_list
    from churnrec.synthetic.campaigns import CONTROL, TREATMENT, write_campaigns
    from churnrec.training.clv import ClvTrainConfig, train_clv
    from churnrec.training.uplift import UpliftTrainConfig, train_uplift

    lines: list[str] = []
    if clv is None:
        clv = train_clv(ws, clv_config or ClvTrainConfig())
    m = clv.metrics
    if clv.skipped:
        lines.append(f"clv: skipped: {clv.skipped}")
    else:
        lines.append(
            f"clv: gini {m['clv_gini']:.3f} vs BG/NBD x Gamma-Gamma {m['btyd_clv_gini']:.3f} "
            f"and heuristic {m['heuristic_clv_gini']:.3f} "
            f"(spend in the next {m['horizon_days']:.0f} days)"
        )
    if tables.campaigns is None:
        return lines + ["no past campaign in this shop (history too short)"]
    if not ws.has_table(C.CAMPAIGNS):  # the demo ingests it with the shop; tests may not
        with owner_only_umask():  # a workspace table: owner-only like the ingested ones
            write_campaigns(tables.campaigns, ws.table_path(C.CAMPAIGNS))
    campaign = str(tables.campaigns["campaign_id"].iloc[0])
    readout = campaign_readout(ws, campaign, control=CONTROL)
    lift = readout.lift(TREATMENT, "converted")
    lines.append(
        f"campaign {campaign}: conversion {lift.control_mean:.1%} -> {lift.arm_mean:.1%} "
        f"({lift.absolute:+.1%}, 95% CI {lift.absolute_ci[0]:+.1%}..{lift.absolute_ci[1]:+.1%})"
    )
    uplift = train_uplift(ws, UpliftTrainConfig(campaign_id=campaign, treatment=TREATMENT))
    u = uplift.metrics
    lines.append(
        f"uplift: top 30% by uplift gain {u['uplift_at_30']:+.1%} conversion vs "
        f"{u['risk_targeting_uplift_at_30']:+.1%} for the top 30% by churn risk "
        f"and {u['ate']:+.1%} at random"
    )
    target = build_target_list(ws, campaign_size=DEMO_CAMPAIGN_SIZE)
    lines += target.summary_lines()
    return lines
