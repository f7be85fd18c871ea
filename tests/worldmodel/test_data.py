"""Training windows: counts, batch layout, statistics, action kinds and refusals."""

import json

import numpy as np
import pytest
import torch

from foretell.data import EpisodeFile
from foretell.worldmodel import SKILL_DIM, ObjectDiffusionModel, encode_skill, load_windows
from foretell.worldmodel import actions as wm_actions
from foretell.worldmodel.object_diffusion import stat_sizes


def _lengths(root):
    return [EpisodeFile(p).n_frames for p in sorted((root / "episodes").glob("ep_*.h5"))]


def test_windows_cover_every_episode_and_batches_line_up(collide_dataset):
    ws = load_windows([collide_dataset], history=2, horizon=3)
    assert len(ws) == sum(t - 5 + 1 for t in _lengths(collide_dataset))
    assert ws.action_kind == "none" and ws.actions is None and ws.fps == 25
    batch = ws.batch(np.array([0, 1, len(ws) - 1]))
    n = batch["mask"].shape[1]
    assert batch["history"].shape == (3, 2, n, 13) and batch["future"].shape == (3, 3, n, 13)
    assert batch["properties"].shape == (3, n, 14) and batch["properties_known"].tolist() == [1, 1, 1]
    # Window 1 starts one frame after window 0 (same episode): its history is shifted by one.
    assert torch.equal(batch["history"][1, 0], batch["history"][0, 1])
    assert torch.equal(batch["history"][1, 1], batch["future"][0, 0])
    with EpisodeFile(collide_dataset / "episodes" / "ep_000000.h5") as ep:
        states = torch.from_numpy(ep.frames("state")[:5, :n]).float()
    assert torch.equal(torch.cat([batch["history"][0], batch["future"][0]]), states)


def test_batches_are_drawn_by_the_generator_alone(collide_dataset):
    ws = load_windows([collide_dataset], history=2, horizon=3)
    a, b = (ws.sample_batch(8, torch.Generator().manual_seed(5)) for _ in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_motion_and_start_weighting_draw_those_windows_more_often(collide_dataset):
    ws = load_windows([collide_dataset], history=2, horizon=3)
    motion = ws.motion()
    # A window's motion is the fastest any object moves over its 5 frames, recomputed by hand.
    w = len(ws) // 2
    frames = slice(ws.starts[w], ws.starts[w] + 5)
    speed = np.linalg.norm(ws.states[frames, :, 7:10], axis=-1) * ws.mask[frames]
    assert motion.shape == (len(ws),) and motion[w] == pytest.approx(speed.max())
    fast = motion > np.median(motion)
    assert fast.any() and not fast.all()
    share = {weight: fast[ws.draw(4000, torch.Generator().manual_seed(0), weight)].mean() for weight in (0.0, 10.0)}
    weights = 1 + 10.0 * motion / motion.mean()  # the documented draw probability, up to a constant
    expected = (weights * fast).sum() / weights.sum()
    assert share[10.0] == pytest.approx(expected, abs=0.03) and expected > fast.mean() + 0.1
    assert share[0.0] == pytest.approx(fast.mean(), abs=0.03)
    # start_weight: the windows that open an episode come 1 + S times as often as the others.
    opening = np.isin(ws.starts, ws.episode_starts)
    assert opening.sum() == len(_lengths(collide_dataset)) and ws.starts[opening].tolist() == ws.episode_starts.tolist()
    expected = 5 * opening.sum() / (5 * opening.sum() + (~opening).sum())
    assert opening[ws.draw(4000, torch.Generator().manual_seed(0), start_weight=4.0)].mean() == \
        pytest.approx(expected, abs=0.03)
    a, b = (ws.sample_batch(8, torch.Generator().manual_seed(5), motion_weight=3.0, start_weight=1.0) for _ in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_statistics_have_the_model_sizes_and_scale_the_targets(collide_dataset):
    ws = load_windows([collide_dataset], history=2, horizon=3)
    stats = ws.statistics()
    for name, size in stat_sizes(2, 3, 14, "none").items():
        assert len(stats[f"{name}_mean"]) == len(stats[f"{name}_std"]) == size
        assert all(s > 0 for s in stats[f"{name}_std"])
    # Displacements grow with the horizon: the last step's x-spread exceeds the first's.
    std = np.asarray(stats["target_std"]).reshape(3, 15)
    assert std[2, 0] > std[0, 0]
    assert stats == ws.statistics()  # deterministic


def test_skill_datasets_encode_action_json(skills_dataset):
    ws = load_windows([skills_dataset], history=1, horizon=1)
    assert ws.action_kind == "skill" and ws.actions.shape[1] == SKILL_DIM
    batch = ws.batch(np.arange(len(ws)))
    acts = batch["actions"]  # (W, 1, SKILL_DIM)
    assert acts.shape == (len(ws), 1, SKILL_DIM)
    assert torch.allclose(acts[..., wm_actions.SKILL_ONEHOT].sum(-1), torch.ones(len(ws), 1))
    with EpisodeFile(skills_dataset / "episodes" / "ep_000000.h5") as ep:
        first = json.loads(ep.strings("action_json")[0])
        names = ep.attrs["object_names"]
    assert np.array_equal(acts[0, 0].numpy(), encode_skill(first, names))


def test_low_level_datasets_carry_the_4_vector(low_level_dataset):
    ws = load_windows([low_level_dataset], history=2, horizon=3)
    assert ws.action_kind == "vector"
    batch = ws.batch(np.array([0]))
    with EpisodeFile(low_level_dataset / "episodes" / "ep_000000.h5") as ep:
        expected = ep.actions(1, 4)  # the actions leading from frame 1 (last observed) into frames 2..4
    assert np.allclose(batch["actions"][0].numpy(), expected)
    stats = ws.statistics()
    assert len(stats["action_mean"]) == 4


def test_encode_skill_reads_both_forms_and_matches_the_env_schema():
    from foretell.envs import SKILL_SCHEMA

    assert wm_actions.PLACE_RANGE == SKILL_SCHEMA["pick_place"]["params"]["dx"]["maximum"]
    assert wm_actions.PUSH_RANGE == SKILL_SCHEMA["push"]["params"]["distance"]["maximum"]
    names = ["red_cube", "blue_cube"]
    by_name = encode_skill({"skill": "push", "object": "blue_cube", "direction": "+y", "distance": 0.125}, names)
    by_index = encode_skill({"skill": 1, "object": 1, "target": 0, "params": [0.5, 0.0, 0.0]}, names)
    assert np.allclose(by_name, by_index, atol=1e-6)
    on_table = encode_skill('{"skill": "pick_place", "object": "red_cube", "target": "table", "dx": 0.11}', names)
    assert on_table[wm_actions.SKILL_NUMBERS][:2].tolist() == [1.0, 0.5]
    assert encode_skill(None, names)[wm_actions.SKILL_NAMES.index("noop")] == 1.0
    with pytest.raises(ValueError, match="unknown object 'green_ball'"):
        encode_skill({"skill": "push", "object": "green_ball", "direction": 0, "distance": 0.1}, names)
    with pytest.raises(ValueError, match="unknown skill 'throw'"):
        encode_skill({"skill": "throw"}, names)


def test_commanded_displacement_is_where_the_skill_puts_the_object(skills_dataset):
    from foretell.envs.sim.scene import PROPERTY_NAMES

    assert PROPERTY_NAMES[wm_actions.BALL_COLUMN] == "shape_ball"
    assert PROPERTY_NAMES[wm_actions.HALF_EXTENT_COLUMNS] == ("half_x", "half_y", "half_z")
    # A 2 cm cube (row 0) on the table, a 3 cm ball (row 1) at (0.1, 0, 0.03): cube onto the ball.
    last = torch.zeros(1, 2, 13)
    last[..., 3] = 1.0  # identity quaternions
    last[0, 0, :3] = torch.tensor([-0.1, 0.05, 0.02])
    last[0, 1, :3] = torch.tensor([0.1, 0.0, 0.03])
    props = torch.zeros(1, 2, 14)
    props[0, 0, 0], props[0, 0, 7:10] = 1.0, 0.02
    props[0, 1, 2], props[0, 1, 7:10] = 1.0, 0.03
    names = ["cube", "ball"]
    steps = [encode_skill({"skill": "pick_place", "object": "cube", "target": "ball", "dx": 0.01}, names),
             encode_skill({"skill": "push", "object": "ball", "direction": "+y", "distance": 0.1}, names),
             encode_skill({"skill": "pick_place", "object": "cube", "target": "table", "dx": 0.05, "dy": -0.02},
                          names)]
    prior = wm_actions.commanded_displacement(last, props, torch.from_numpy(np.stack(steps))[None])  # (1, 3, 2, 3)
    assert torch.allclose(prior[0, 0, 0], torch.tensor([0.21, -0.05, 0.06 + 0.02 - 0.02]), atol=1e-6)
    assert torch.allclose(prior[0, 0, 1], torch.zeros(3))  # the target does not move
    assert torch.allclose(prior[0, 1, 1], torch.tensor([0.0, 0.1, 0.0]), atol=1e-6)  # a push adds
    assert torch.allclose(prior[0, 2, 0], torch.tensor([0.15, -0.07, 0.0]), atol=1e-6)  # a placement sets
    # On recorded noisy-expert steps the command is within the placement noise of what happened.
    ws = load_windows([skills_dataset], history=1, horizon=1)
    b = ws.batch(np.arange(len(ws)))
    prior = wm_actions.commanded_displacement(b["history"][:, -1], b["properties"], b["actions"])
    moved = (b["future"][:, 0, :, :3] - b["history"][:, 0, :, :3])
    placed = b["actions"][:, 0, wm_actions.SKILL_NAMES.index("pick_place")] > 0.5
    rows = b["actions"][:, 0, wm_actions.SKILL_OBJECT].argmax(-1)[placed]
    error = (moved - prior[:, 0])[placed, rows].norm(dim=-1)
    assert float(error.median()) < 0.01 < float(moved[placed, rows].norm(dim=-1).median())
    stats = ws.statistics(0, skill_prior=True)
    assert all(a < b for a, b in zip(stats["target_std"][:3], ws.statistics(0)["target_std"][:3], strict=True))
    with pytest.raises(ValueError, match="skill_prior needs action_kind 'skill'"):
        ObjectDiffusionModel(history=1, horizon=1, skill_prior=True)


def test_a_dataset_without_state_is_refused_by_name(no_state_dataset):
    with pytest.raises(ValueError, match=rf"{no_state_dataset} lacks the key 'state'"):
        load_windows([no_state_dataset], history=2, horizon=3)


def test_other_bad_data_is_refused(collide_dataset, skills_dataset, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a foretell dataset"):
        load_windows([tmp_path], history=2, horizon=3)
    with pytest.raises(ValueError, match="long enough for history 2 \\+ horizon 300"):
        load_windows([collide_dataset], history=2, horizon=300)
    with pytest.raises(ValueError, match="mix action kinds"):
        load_windows([collide_dataset, skills_dataset], history=1, horizon=1)
    with pytest.raises(ValueError, match="history and horizon must be >= 1"):
        load_windows([collide_dataset], history=0, horizon=3)


def test_scale_augmentation_scales_the_scene_and_the_command_together(skills_dataset, collide_dataset):
    """A scaled window is the same skill in a scene f times larger: positions, sizes and the
    commanded displacement (where the skill sends the object) all scale by f; draws are seeded."""
    from foretell.worldmodel.data import scale_scene, widen_size_range

    ws = load_windows([skills_dataset], history=1, horizon=1)
    b = ws.batch(np.arange(min(len(ws), 32)))
    f = torch.linspace(0.7, 1.5, len(b["history"]))
    s = scale_scene(b, f)
    assert torch.allclose(s["future"][..., :3], b["future"][..., :3] * f[:, None, None, None])
    assert torch.equal(s["future"][..., 3:7], b["future"][..., 3:7])  # orientations stay
    assert torch.allclose(s["properties"][..., 7:10], b["properties"][..., 7:10] * f[:, None, None])
    assert torch.equal(s["properties"][..., 10:], b["properties"][..., 10:])  # mass and materials stay
    before = wm_actions.commanded_displacement(b["history"][:, -1], b["properties"], b["actions"])
    after = wm_actions.commanded_displacement(s["history"][:, -1], s["properties"], s["actions"])
    assert torch.allclose(after, before * f[:, None, None, None], atol=1e-5)
    one = ws.sample_batch(8, torch.Generator().manual_seed(1), scale=1.5)
    two = ws.sample_batch(8, torch.Generator().manual_seed(1), scale=1.5)
    assert all(torch.equal(one[k], two[k]) for k in one)
    assert not torch.equal(one["history"], ws.sample_batch(8, torch.Generator().manual_seed(1))["history"])
    stats = widen_size_range(ws.statistics(0), 1.5)
    assert stats["property_max"][8] == pytest.approx(ws.statistics(0)["property_max"][8] * 1.5)
    with pytest.raises(ValueError, match="scale augmentation is for skill data"):
        load_windows([collide_dataset], history=2, horizon=2).sample_batch(4, torch.Generator(), scale=1.5)
