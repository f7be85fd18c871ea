"""Encoding an episode: frames handed over as lists are streamed into the file (same bytes, no stacked copy)."""

import tracemalloc

import numpy as np

from foretell.data.episode_file import encode_episode

T, SIZE = 40, 64


def _record(as_lists: bool) -> dict:
    rng = np.random.default_rng(0)
    obs = {"rgb": [np.full((SIZE, SIZE, 3), t, dtype=np.uint8) for t in range(T)],
           "depth": [np.full((SIZE, SIZE), 1.0 + t, dtype=np.float32) for t in range(T)],
           "segmentation": [rng.integers(-1, 3, (SIZE, SIZE)).astype(np.int32) for _ in range(T)],
           "time": [0.04 * t for t in range(T)]}
    if not as_lists:
        obs = {k: np.asarray(v) for k, v in obs.items()}
    return {"attrs": {"n_frames": T, "env_id": "foretell/Collide-v0"}, "obs": obs, "action": None,
            "action_json": ["0"] * (T - 1), "reward": np.zeros(T - 1), "events": ["[]"] * T,
            "text": {"caption": "a caption", "instruction": ""}, "json": {"objects": []}}


def test_frame_lists_give_the_bytes_of_stacked_arrays_and_are_released():
    record = _record(as_lists=True)
    assert encode_episode(record) == encode_episode(_record(as_lists=False))
    assert all(frame is None for frame in record["obs"]["rgb"])  # each frame dropped once written


def test_encoding_frame_lists_makes_no_stacked_copy():
    """Before: the encoder stacked every key's frames (a second full copy of the episode)."""
    record = _record(as_lists=True)
    raw = sum(np.asarray(f).nbytes for frames in record["obs"].values() for f in frames)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        encode_episode(record)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * raw, f"encoding took {peak / 1e6:.1f} MB on top of {raw / 1e6:.1f} MB of frames"
