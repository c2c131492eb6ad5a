"""Spark's local shuffle partitions follow the input size (no JVM needed for the rule)."""

from __future__ import annotations

from pathlib import Path

from churnrec.features.spark import (
    LOCAL_BYTES_PER_PARTITION,
    MAX_LOCAL_PARTITIONS,
    local_shuffle_partitions,
)


def _orders_of_size(root: Path, size: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "orders.parquet", "wb") as f:
        f.truncate(size)  # a sparse file: the size is all the rule reads
    return root


def test_partitions_grow_with_the_orders_file_and_stay_bounded(tmp_path: Path) -> None:
    assert local_shuffle_partitions(tmp_path / "missing") == 2
    assert local_shuffle_partitions(_orders_of_size(tmp_path / "small", 10_000)) == 2
    ten_m_lines = _orders_of_size(tmp_path / "10m", 202_165_815)  # the 10M-line benchmark file
    assert local_shuffle_partitions(ten_m_lines) == 202_165_815 // LOCAL_BYTES_PER_PARTITION == 6
    huge = _orders_of_size(tmp_path / "huge", LOCAL_BYTES_PER_PARTITION * 10_000)
    assert local_shuffle_partitions(huge) == MAX_LOCAL_PARTITIONS
    assert local_shuffle_partitions("s3a://bucket/shop/data") == 2  # a cluster's URI: not read


def test_a_partitioned_orders_folder_counts_all_its_files(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "orders.parquet"
    folder.mkdir(parents=True)
    for i in range(4):
        with open(folder / f"part-{i}.parquet", "wb") as f:
            f.truncate(LOCAL_BYTES_PER_PARTITION)
    assert local_shuffle_partitions(tmp_path / "data") == 4
