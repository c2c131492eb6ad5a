"""The README is what a new user copies from: its commands and config must stay valid."""

from __future__ import annotations

import re
from pathlib import Path

from churnrec.training.config import load_train_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.DOTALL).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_config_example_is_a_valid_train_config(tmp_path: Path) -> None:
    example = re.search(r"```yaml\n(.*?)```", README, re.DOTALL).group(1)
    path = tmp_path / "train.yaml"
    path.write_text(example)
    config = load_train_config(path)
    assert config.churn.step_days == 30
    assert config.recommender.holdout_days == 28


def test_readme_has_one_layout_table_naming_every_package_folder() -> None:
    tables = re.findall(r"^\| folder \|.*?\n\n", README, re.DOTALL | re.MULTILINE)
    assert len(tables) == 1, "one layout table, not a second stale copy"
    for folder in ("cli/", "serving/", "training/", "insights/", "features/", "models/"):
        assert f"| `{folder}` |" in tables[0]


def test_readme_config_example_tunes_the_served_recommender(tmp_path: Path) -> None:
    """The example's ranker setting must be one training keeps, not one chosen on validation."""
    example = re.search(r"```yaml\n(.*?)```", README, re.DOTALL).group(1)
    path = tmp_path / "train.yaml"
    path.write_text(example)
    ranker = load_train_config(path).recommender.ranker
    tuned = ranker.model_dump(exclude_defaults=True)
    assert tuned, "the example sets a ranker option"
    assert not set(tuned) & {"rule_decay", "mode"}, "training overrides these on validation"
