"""The shard runner's rule for errors, without a cluster (the client writes small exports itself):
one shard that cannot be written leaves the others to write, but once the output takes no more
writes (a full or read-only disk) no shard is started, whichever shard's error came first, and that
fault is the one raised (it is what the user must fix)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from toolkit._errors import OutputWriteError
from toolkit._export._runner import run_shards
from toolkit._export._shards import ShardPlan
from toolkit._stages import StageContext


def plans(n: int) -> dict[str, list[ShardPlan]]:
    return {"train": [ShardPlan(f"train-{i:06d}.tar", "train", (), f"d{i}") for i in range(n)]}


def context(out: Path) -> StageContext:
    return StageContext(out, None, None, None, lambda *a, **k: None)  # type: ignore[arg-type]


def test_a_shard_too_large_then_a_full_disk_stops_the_writing_and_the_full_disk_is_named(tmp_path):
    tried: list[str] = []

    def task(dest, samples, root, options):
        name = os.path.basename(dest)
        tried.append(name)
        if name == "train-000000.tar":  # this shard alone: too large for the file system
            raise OutputWriteError(errno.EFBIG, os.strerror(errno.EFBIG), dest)
        if name == "train-000001.tar":
            Path(dest).write_bytes(b"shard")
            return {"samples": 0, "bytes": 5}
        raise OutputWriteError(errno.ENOSPC, os.strerror(errno.ENOSPC), dest)  # then the disk is full

    with pytest.raises(OutputWriteError) as caught:
        run_shards(context(tmp_path), tmp_path / "webdataset", "webdataset", "tar", plans(10), task, None, {})

    assert caught.value.errno == errno.ENOSPC  # the fault that stopped the export, not the one shard's
    assert len(tried) <= 5, tried  # none started once the full disk is known (but the two then in flight)
    index = json.loads((tmp_path / "webdataset" / "train.index.json").read_text())
    assert [s["name"] for s in index["shards"]] == ["train-000001.tar"] and not index["complete"]  # the finished one kept


def test_one_shard_that_cannot_be_written_leaves_the_others_to_write(tmp_path):
    def task(dest, samples, root, options):
        if dest.endswith("train-000003.tar"):
            raise OutputWriteError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), dest)
        Path(dest).write_bytes(b"shard")
        return {"samples": 0, "bytes": 5}

    with pytest.raises(OutputWriteError) as caught:
        run_shards(context(tmp_path), tmp_path / "webdataset", "webdataset", "tar", plans(8), task, None, {})

    assert caught.value.errno == errno.ENAMETOOLONG
    index = json.loads((tmp_path / "webdataset" / "train.index.json").read_text())
    assert len(index["shards"]) == 7 and "train-000003.tar" not in {s["name"] for s in index["shards"]}
