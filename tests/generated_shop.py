"""A generated shop ingested into a fresh workspace: the fixture several test files start from."""

from __future__ import annotations

from pathlib import Path

from churnrec.synthetic import ShopConfig
from churnrec.workspace import Workspace


def ingested_shop(root: Path, config: ShopConfig) -> Workspace:
    """Generate the shop as CSV files under `root/shop`, then ingest orders, customers, items
    and events into the workspace at `root`."""
    from churnrec.ingest import ingest
    from churnrec.synthetic import generate_shop, write_shop

    files = write_shop(generate_shop(config), root / "shop", "csv")
    ws = Workspace.at(root)
    ingest(
        ws,
        files["orders"],
        customers=files["customers"],
        items=files["items"],
        events=files["events"],
    )
    return ws
