import numpy as np
import pytest

from policies.config import WindowConfig
from policies.exceptions import DatasetWindowError
from policies.windows import WindowDataset, open_dataset, select_episodes, split_episodes
from recorder import Dataset
from tests.policies.conftest import write_synthetic_dataset


def _raw(ds: WindowDataset, eid: str, name: str) -> np.ndarray:
    return ds.dataset.episode(eid).read(name).astype(np.float64)


def test_window_is_the_next_h_actions_padded_by_holding_the_last(synthetic_dataset):
    ds = WindowDataset(synthetic_dataset, None, WindowConfig(horizon=30))
    assert len(ds) == 4 * 60
    eid = ds.episode_ids[1]
    actions = _raw(ds, eid, "action")
    states = _raw(ds, eid, "state")
    # window 70 = episode 1, row 10: a full chunk
    w = ds.windows(np.array([70, 60 + 59]))
    np.testing.assert_allclose(ds.stats.denormalize_action(w["actions"][0].astype(np.float64)), actions[10:40], atol=1e-5)
    np.testing.assert_allclose(
        ds.stats.normalize_state(states[10]), w["state"][0], atol=1e-5
    )
    assert w["action_is_real"][0].all()
    # last row: one real action, then 29 copies of it
    last = ds.stats.denormalize_action(w["actions"][1].astype(np.float64))
    np.testing.assert_allclose(last, np.repeat(actions[-1:], 30, axis=0), atol=1e-5)
    assert w["action_is_real"][1].sum() == 1


def test_split_is_by_episode_and_deterministic():
    ids = [f"episode_{i:06d}" for i in range(20)]
    train, val = split_episodes(ids, 0.2, seed=3)
    assert len(val) == 4 and len(train) == 16 and not set(train) & set(val)
    assert (train, val) == split_episodes(ids, 0.2, seed=3)
    assert split_episodes(ids[:2], 0.01, 0)[1] != []  # two episodes: one held out
    assert split_episodes(ids[:1], 0.5, 0) == (ids[:1], [])


def test_filters_from_annotations(tmp_path):
    path = write_synthetic_dataset(tmp_path / "d", episodes=4, T=60, tasks=("pick_place", "lift_box"),
                                   successes=[True, False, True, None])
    ds = Dataset.open(path)
    ds.episode(2).update_attrs(segments=[{"start": 0.5, "end": 1.0, "label": "grasp"},
                                         {"start": 1.5, "end": 1.9, "label": "place"}])
    ds.episode(0).update_attrs(trim=[0.0, 1.0])
    ro = open_dataset(path)
    assert [i.episode_id for i in select_episodes(ro, WindowConfig(successful_only=True))] == \
        ["episode_000000", "episode_000002"]
    assert [i.task for i in select_episodes(ro, WindowConfig(tasks=("lift_box",)))] == ["lift_box", "lift_box"]
    seg = WindowDataset(ro, None, WindowConfig(segment_labels=("grasp",)))
    assert seg.episode_ids == ["episode_000002"]
    assert len(seg) == 16  # rows at 0.5 .. 1.0 s at 30 Hz
    # the chunk ends with the segment: padded by holding the segment's last action
    a = _raw(seg, "episode_000002", "action")
    last = seg.stats.denormalize_action(seg.windows(np.array([15]))["actions"][0].astype(np.float64))
    np.testing.assert_allclose(last, np.repeat(a[30:31], 30, axis=0), atol=1e-5)
    trimmed = WindowDataset(ro, ["episode_000000"], WindowConfig())
    assert len(trimmed) == 31  # 0 .. 1.0 s
    with pytest.raises(DatasetWindowError, match="no training window"):
        WindowDataset(ro, None, WindowConfig(segment_labels=("nothing",)))


def test_images_are_resized_frames_of_the_window_row(tmp_path):
    path = write_synthetic_dataset(tmp_path / "cams", episodes=2, T=20, cameras=("head",), camera_shape=(48, 64))
    ds = WindowDataset(path, None, WindowConfig(cameras=("head",), image_size=(24, 32)))
    b = ds.batch(np.array([7, 25]))
    assert tuple(b["images"].shape) == (2, 1, 3, 24, 32)
    red = b["images"][:, 0, 0].float().mean(dim=(1, 2)).numpy()
    np.testing.assert_allclose(red, [7 * 5, 5 * 5], atol=3)  # row k has red = 5 k (JPEG within 3 levels)
    green_top = b["images"][0, 0, 1, :10].float().mean().item()
    assert green_top > 180
    with pytest.raises(DatasetWindowError, match="no camera"):
        WindowDataset(path, None, WindowConfig(cameras=("left_wrist",)))


def test_a_slower_camera_gives_the_latest_frame_before_the_row(tmp_path):
    path = write_synthetic_dataset(tmp_path / "slow", episodes=1, T=20, cameras=("head",), camera_every=3)
    ds = WindowDataset(path, None, WindowConfig(cameras=("head",), image_size=(48, 64)))
    red = ds.images(np.arange(8))[:, 0, 0].astype(float).mean(axis=(1, 2))
    np.testing.assert_allclose(red, [0, 0, 0, 15, 15, 15, 30, 30], atol=3)  # frames at rows 0, 3, 6


def test_crop_cuts_the_region_out_before_the_resize(tmp_path):
    # synthetic frames: green 200 in the top half, 0 in the bottom half; red = 5 * row
    path = write_synthetic_dataset(tmp_path / "crop", episodes=2, T=12, cameras=("head",), camera_shape=(48, 64))
    top = WindowDataset(path, None, WindowConfig(cameras=("head",), image_size=(16, 32), image_crop=(0, 0, 24, 64)))
    bottom = WindowDataset(path, None, WindowConfig(cameras=("head",), image_size=(16, 32), image_crop=(26, 8, 22, 48)))
    green_top = top.images(np.arange(12))[:, 0, 1].astype(float)
    green_bottom = bottom.images(np.arange(12))[:, 0, 1].astype(float)
    assert green_top.min() > 180 and green_bottom.max() < 20
    red = bottom.images(np.array([3, 12 + 9]))[:, 0, 0].astype(float).mean(axis=(1, 2))
    np.testing.assert_allclose(red, [15, 45], atol=3)
    with pytest.raises(DatasetWindowError, match="does not fit in 64x48 px frames"):
        WindowDataset(path, None, WindowConfig(cameras=("head",), image_crop=(30, 0, 24, 64)))


def test_cached_frames_equal_frames_decoded_per_batch(tmp_path):
    path = write_synthetic_dataset(tmp_path / "cache", episodes=2, T=15, cameras=("head",), camera_every=2)
    cfg = WindowConfig(cameras=("head",), image_size=(24, 32), image_crop=(4, 4, 40, 56))
    cached = WindowDataset(path, None, cfg, cache_images=True)
    direct = WindowDataset(path, None, cfg, cache_images=False)
    index = np.array([0, 1, 5, 14, 15, 22, 29])
    assert cached._image_cache and not direct._image_cache
    np.testing.assert_array_equal(cached.images(index), direct.images(index))

