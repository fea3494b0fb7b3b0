"""validate, recover, delete, merge, annotations and the `psi-teleop dataset` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recorder import Dataset, DatasetWriter, EpisodeStatus, RecorderError
from recorder.recover import recover_dataset
from recorder.tools import merge_datasets, set_deleted
from recorder.validate import validate_dataset
from teleop.cli import main
from tests.recorder.conftest import CAM_SHAPE, RowMaker, record


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "ds"
    with DatasetWriter(path, camera_shapes={"head": CAM_SHAPE}, chunk_s=1.0) as ds:
        record(ds, 90, operator="alice")
        record(ds, 45, success=False, invalid_every=9, task="wipe")
    return path


def _fake_interruption(path, episode_id: str, committed: int) -> int:
    """Make a finished episode look like one killed after committing ``committed`` rows.

    Returns the rows its arrays really hold (rows past the commit point stay, as after a kill mid-flush).
    """
    ep = Dataset.open(path).episode(episode_id)
    stored = ep.n_rows
    ep._write_attrs({"status": "recording", "n_rows_flushed": committed,
                     "writer": {"host": "crashed-host", "pid": 1}, "heartbeat_unix": 0.0})
    for key in ("n_rows", "duration_s"):
        ep._group.attrs.__delitem__(key)
    return stored


def test_validate_reports_alignment_and_camera_drops(dataset):
    report = validate_dataset(Dataset.open(dataset))
    assert report.ok, [e.problems for e in report.episodes]
    ep0, ep1 = report.episodes
    align = {a.stream: a for a in ep0.alignment}
    assert align["robot"].max_ms == pytest.approx(4.0, abs=1e-6)
    assert align["operator"].p99_ms == pytest.approx(11.0, abs=1e-6)
    assert align["cameras/head"].max_ms == pytest.approx(20.0, abs=1e-6)
    cam = ep1.cameras[0]
    assert (cam.invalid_rows, cam.repeated_frames) == (5, 0)  # rows 8, 17, 26, 35, 44
    assert ep1.gaps == 0 and ep1.dropped_rows == 0


def test_validate_names_a_corrupted_chunk(dataset):
    chunk = dataset / "episodes" / "episode_000000" / "action" / "c" / "1" / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    report = validate_dataset(Dataset.open(dataset))
    assert not report.ok
    problems = report.episodes[0].problems
    assert any("'action' chunk 1 (rows 30-59) is corrupt" in p for p in problems), problems
    assert report.episodes[1].ok
    assert main(["dataset", "validate", str(dataset)]) == 1


def test_validate_names_a_missing_frame_chunk(dataset):
    (dataset / "episodes" / "episode_000001" / "cameras" / "head" / "jpeg" / "c" / "1").unlink()
    problems = validate_dataset(Dataset.open(dataset)).episodes[1].problems
    assert any("'cameras/head/jpeg' chunk 1 (rows 30-44) is missing" in p for p in problems), problems


def test_recover_truncates_to_the_commit_point(dataset):
    stored = _fake_interruption(dataset, "episode_000000", committed=60)
    assert stored == 90
    report = validate_dataset(Dataset.open(dataset))
    assert any("interrupted while recording (60 rows flushed" in p for p in report.episodes[0].problems)
    (result,) = recover_dataset(Dataset.open(dataset))
    assert (result.status, result.rows_kept, result.rows_cut) == (EpisodeStatus.RECOVERED, 60, 30)
    ep = Dataset.open(dataset).episode("episode_000000")
    assert ep.status is EpisodeStatus.RECOVERED and ep.n_rows == 60
    assert ep.array("state").shape == (60, 32) and ep.array("cameras/head/jpeg").shape == (60,)
    assert ep.info.duration_s == pytest.approx(59 / 30.0)
    np.testing.assert_allclose(ep.read("state")[:, 0], np.arange(60), atol=1e-4)
    assert validate_dataset(Dataset.open(dataset)).ok
    assert recover_dataset(Dataset.open(dataset)) == []  # idempotent: nothing left to do


def test_recover_stops_before_a_corrupt_chunk(dataset):
    _fake_interruption(dataset, "episode_000000", committed=90)
    chunk = dataset / "episodes" / "episode_000000" / "robot" / "q" / "c" / "2" / "0"
    chunk.write_bytes(chunk.read_bytes()[:-7])
    (result,) = recover_dataset(Dataset.open(dataset))
    assert result.rows_kept == 60 and "chunk 2" in result.reason
    assert validate_dataset(Dataset.open(dataset)).ok


def test_recover_refuses_a_live_episode_and_discards_an_empty_one(tmp_path):
    ds = DatasetWriter(tmp_path / "ds")
    ds.start_episode(task="t")  # created; its writer (this process) is alive
    with pytest.raises(RecorderError, match=r"still being recorded \(its writer, process \d+ on .*, was alive"):
        recover_dataset(Dataset.open(tmp_path / "ds"))
    report = validate_dataset(Dataset.open(tmp_path / "ds"))
    assert "still being recorded" in report.episodes[0].problems[0]
    (result,) = recover_dataset(Dataset.open(tmp_path / "ds"), force=True)  # as if the process had died
    assert result.status is EpisodeStatus.DISCARDED and result.rows_kept == 0
    assert Dataset.open(tmp_path / "ds").episodes()[0].status is EpisodeStatus.DISCARDED


def test_soft_delete_and_undo(dataset):
    ds = Dataset.open(dataset)
    set_deleted(ds, ["episode_000001"])
    assert [e.episode_id for e in Dataset.open(dataset).episodes()] == ["episode_000000"]
    assert len(Dataset.open(dataset).episodes(include_deleted=True)) == 2
    assert (dataset / "episodes" / "episode_000001" / "state").exists()  # nothing removed
    set_deleted(Dataset.open(dataset), ["episode_000001"], deleted=False)
    assert len(Dataset.open(dataset).episodes()) == 2
    with pytest.raises(RecorderError, match="no episode episode_000009"):
        set_deleted(Dataset.open(dataset), ["episode_000009"])


def test_merge_copies_bytes_under_new_ids(dataset, tmp_path):
    other = tmp_path / "other"
    with DatasetWriter(other, camera_shapes={"head": CAM_SHAPE}) as ds:
        record(ds, 20, task="stack")
        ds.start_episode(task="bad").discard("test")
    merged = merge_datasets([dataset, other], tmp_path / "all")
    assert [m.episode_id for m in merged] == ["episode_000000", "episode_000001", "episode_000002"]
    out = Dataset.open(tmp_path / "all")
    assert [e.task for e in out.episodes()] == ["pick_place", "wipe", "stack"]
    a, b = Dataset.open(dataset).episode(1), out.episode(1)
    np.testing.assert_array_equal(a.read("action"), b.read("action"))
    assert a.jpeg("head", 3) == b.jpeg("head", 3)
    assert b.attrs["merged_from"]["episode_id"] == "episode_000001"
    assert validate_dataset(out).ok


def test_merge_refuses_interrupted_sources(dataset, tmp_path):
    _fake_interruption(dataset, "episode_000001", committed=30)
    with pytest.raises(RecorderError, match="interrupted episodes .*episode_000001.*recover"):
        merge_datasets([dataset], tmp_path / "all")


def test_annotations_update_attrs_only(dataset):
    ep = Dataset.open(dataset).episode(0)
    before = ep.read("action").copy()
    info = ep.update_attrs(segments=[{"start": 1.0, "end": 2.0, "label": "grasp"}, {"start": 0.0, "end": 0.5, "label": "reach"}],
                           tags=["good", "good", "demo"], notes="clean", success=False, trim=[0.2, 2.5])
    assert [s["label"] for s in info.segments] == ["reach", "grasp"] and info.tags == ("good", "demo")
    again = Dataset.open(dataset).episode(0)
    assert again.attrs["trim"] == [0.2, 2.5] and again.info.success is False and again.info.notes == "clean"
    np.testing.assert_array_equal(again.read("action"), before)
    with pytest.raises(RecorderError, match=r"0 <= start <= end <= 2.967 s"):
        ep.update_attrs(segments=[{"start": 1.0, "end": 9.0, "label": "x"}])
    with pytest.raises(RecorderError, match="cannot change .*status"):
        ep.update_attrs(status="complete")
    summary = Dataset.open(dataset).summary()
    assert summary["annotated_episodes"] == 1
    assert summary["segment_coverage"] == pytest.approx(1.5 / (89 / 30 + 44 / 30))


def test_windowed_reads_match_full_reads(dataset):
    ep = Dataset.open(dataset).episode(0, cache_bytes=10_000)  # tiny cache: evictions happen
    full = ep.read("robot/q")
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = int(rng.integers(0, 90))
        b = int(rng.integers(a, 91))
        np.testing.assert_array_equal(ep.read("robot/q", a, b), full[a:b])
    assert ep.read("state", 80, 200).shape == (10, 32)
    assert ep.read("state", -5).shape == (5, 32)


def test_cli_list_info_json(dataset, capsys):
    assert main(["dataset", "list", str(dataset), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["episode_id"] for e in listed] == ["episode_000000", "episode_000001"]
    assert main(["dataset", "info", str(dataset), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["usable"] == 2 and info["success_rate"] == 0.5
    assert main(["dataset", "validate", str(dataset), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_cli_recover_and_delete(dataset, capsys):
    _fake_interruption(dataset, "episode_000001", committed=30)
    assert main(["dataset", "validate", str(dataset)]) == 1
    assert main(["dataset", "recover", str(dataset), "--dry-run"]) == 0
    assert "would be recovered: 30 rows kept" in capsys.readouterr().out
    assert Dataset.open(dataset).episodes()[1].status is EpisodeStatus.RECORDING
    assert main(["dataset", "recover", str(dataset)]) == 0
    assert main(["dataset", "validate", str(dataset)]) == 0
    assert main(["dataset", "delete", str(dataset), "episode_000000"]) == 0
    assert len(Dataset.open(dataset).episodes()) == 1
    assert main(["dataset", "delete", str(dataset), "episode_000000", "--undo"]) == 0
    assert len(Dataset.open(dataset).episodes()) == 2
    assert main(["dataset", "list", str(dataset / "nope")]) == 1


def test_open_errors_say_what_to_do(tmp_path):
    from recorder import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match="no dataset at"):
        Dataset.open(tmp_path / "missing")
    import zarr

    zarr.open_group(tmp_path / "other", mode="w").create_group("x")
    with pytest.raises(DatasetNotFoundError, match="not a psi-teleop dataset"):
        DatasetWriter(tmp_path / "other")
    with DatasetWriter(tmp_path / "ds") as ds:
        record(ds, 3, maker=RowMaker(cameras=()))
    with pytest.raises(RecorderError, match="no episode 'episode_000007'.*episode_000000"):
        Dataset.open(tmp_path / "ds").episode("episode_000007")
    with pytest.raises(RecorderError, match="no stream 'robot/nope'; streams: action"):
        Dataset.open(tmp_path / "ds").episode(0).read("robot/nope")


def test_tools_work_on_an_fsspec_url():
    url = "memory://psi-teleop-tools/ds"
    with DatasetWriter(url, camera_shapes={"head": CAM_SHAPE}) as ds:
        record(ds, 31)
    ds = Dataset.open(url)
    ds.episode(0).update_attrs(tags=["remote"])
    assert Dataset.open(url).episodes()[0].tags == ("remote",)
    report = validate_dataset(Dataset.open(url))
    assert report.ok and report.episodes[0].cameras[0].rows == 31
    set_deleted(Dataset.open(url), ["episode_000000"])
    assert Dataset.open(url).episodes() == []


def test_reader_cache_is_shared_safely_between_threads(dataset):
    import concurrent.futures

    ep = Dataset.open(dataset).episode(0, cache_bytes=20_000)
    expected = ep.read("robot/q")

    def window(i: int) -> bool:
        a = i % 80
        return np.array_equal(ep.read("robot/q", a, a + 10), expected[a:a + 10])

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert all(pool.map(window, range(400)))
