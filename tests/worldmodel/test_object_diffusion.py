"""ObjectDiffusionModel: shapes, padding, object-order equivariance, save/load, bad input, geometry."""

import math

import numpy as np
import pytest
import torch

from foretell.worldmodel import SKILL_DIM, ObjectDiffusionModel, encode_skill
from foretell.worldmodel.geometry import (
    matrix_to_quat,
    quat_to_matrix,
    relative_features,
    states_from_features,
)

from .conftest import TINY_MODEL, random_states, randomise

torch.set_num_threads(1)


def _model(**kwargs) -> ObjectDiffusionModel:
    return randomise(ObjectDiffusionModel(**{**TINY_MODEL, **kwargs}))


def _sample(model, history, mask, seed=0, **kwargs):
    kwargs.setdefault("num_samples", 2)
    kwargs.setdefault("num_steps", 3)
    return model.sample(history, kwargs.pop("properties", None), mask, generator=torch.Generator().manual_seed(seed),
                        **kwargs)


@pytest.mark.parametrize("objects", [3, 6])
def test_sample_shapes_and_padding_rows_are_zero(objects):
    model = _model()
    history = random_states(2, 2, objects)
    mask = torch.ones(2, objects, dtype=torch.bool)
    mask[1, objects - 1] = False  # the second scene has one object fewer
    out = _sample(model, history, mask, properties=torch.rand(2, objects, 14))
    assert out.shape == (2, 2, 3, objects, 13)
    assert torch.isfinite(out).all()
    assert (out[1, :, :, objects - 1] == 0).all() and (out[0, :, :, objects - 1] != 0).any()
    quat_norm = out[0, ..., 3:7].norm(dim=-1)
    assert torch.allclose(quat_norm, torch.ones_like(quat_norm), atol=1e-5)


def test_a_padded_object_does_not_change_the_others():
    model = _model()
    b, n = 2, 3
    mask = torch.ones(b, n, dtype=torch.bool)
    cond = model.condition(random_states(b, 2, n), torch.rand(b, n, 14), mask, None)
    x = torch.randn(b, 3, n, 15, generator=torch.Generator().manual_seed(1))
    t = torch.full((b,), -0.5)
    base = model(x, t, **cond)
    # Two more rows, masked out, holding arbitrary values: the three real objects must not notice.
    extra = cond["history"].new_full((b, 2, 2, 15), 9.0)
    padded = dict(cond, history=torch.cat([cond["history"], extra], dim=2),
                  objects=torch.cat([cond["objects"], torch.full((b, 2, cond["objects"].shape[-1]), -4.0)], dim=1),
                  mask=torch.cat([mask, torch.zeros(b, 2, dtype=torch.bool)], dim=1))
    out = model(torch.cat([x, torch.randn(b, 3, 2, 15)], dim=2), t, **padded)
    assert torch.allclose(out[:, :, :n], base, atol=1e-5)


def test_padded_rows_hold_no_information_in_samples():
    model = _model()
    history = random_states(1, 2, 4)
    mask = torch.tensor([[True, False, True, True]])
    garbage = history.clone()
    garbage[:, :, 1] = 7.0
    clean = history * mask[:, None, :, None]
    first, second = (_sample(model, h, mask, num_samples=2) for h in (garbage, clean))
    assert torch.equal(first, second)
    assert (first[..., 1, :] == 0).all()


def test_the_denoiser_is_equivariant_to_object_order():
    """No object-index embedding: permuting the objects permutes the prediction (what lets a model
    trained on 2-4 objects run on 6)."""
    model = _model()
    b, n = 2, 4
    mask = torch.ones(b, n, dtype=torch.bool)
    cond = model.condition(random_states(b, 2, n), torch.rand(b, n, 14), mask, None)
    x = torch.randn(b, 3, n, 15, generator=torch.Generator().manual_seed(1))
    t = torch.full((b,), 0.1)
    perm = torch.tensor([2, 0, 3, 1])
    permuted = dict(cond, history=cond["history"][:, :, perm], objects=cond["objects"][:, perm], mask=mask[:, perm])
    assert torch.allclose(model(x[:, :, perm], t, **permuted), model(x, t, **cond)[:, :, perm], atol=1e-5)


def test_save_and_load_give_identical_samples(tmp_path):
    stats = {"target_mean": [0.01] * 45, "target_std": [0.5] * 45, "property_std": [2.0] * 14}
    model = _model(stats=stats)
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = ObjectDiffusionModel.from_pretrained(tmp_path / "m")
    assert loaded.config.stats == model.config.stats
    history, mask = random_states(2, 2, 5), torch.ones(2, 5, dtype=torch.bool)
    for sampler in ("euler", "dpmsolver"):
        a = _sample(model, history, mask, seed=3, sampler=sampler)
        b = _sample(loaded, history, mask, seed=3, sampler=sampler)
        assert torch.equal(a, b)
    assert not torch.equal(_sample(model, history, mask, seed=3), _sample(model, history, mask, seed=4))


@pytest.mark.parametrize("kind, width", [("vector", 4), ("skill", SKILL_DIM)])
def test_action_conditioned_models_use_their_actions(kind, width):
    model = _model(action_kind=kind)
    history, mask = random_states(1, 2, 3), torch.ones(1, 3, dtype=torch.bool)
    if kind == "skill":
        names = ["red_cube", "blue_cube", "green_ball"]
        skills = [{"skill": "pick_place", "object": "red_cube", "target": "blue_cube", "dx": 0.01, "dy": 0.0},
                  {"skill": "push", "object": "green_ball", "direction": "left", "distance": 0.1}, None]
        actions = torch.from_numpy(np.stack([encode_skill(s, names) for s in skills]))[None]
    else:
        actions = torch.rand(1, 3, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert actions.shape == (1, 3, width)
    a = _sample(model, history, mask, actions=actions)
    b = _sample(model, history, mask, actions=actions.flip(1))
    assert a.shape == (1, 2, 3, 3, 13) and not torch.allclose(a, b)


def test_training_loss_is_finite_and_masks_padding():
    model = _model()
    history, future = random_states(2, 2, 4), random_states(2, 3, 4, seed=1)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    batch = {"history": history, "future": future, "mask": mask, "properties": torch.rand(2, 4, 14),
             "properties_known": torch.ones(2)}
    loss = model.training_loss(batch, torch.Generator().manual_seed(0), property_dropout=0.5)
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    changed = dict(batch, future=future.clone())
    changed["future"][0, :, 3] += 100.0  # a padded object's future is no target
    again = model.training_loss(changed, torch.Generator().manual_seed(0), property_dropout=0.5)
    assert torch.allclose(loss, again)


@pytest.mark.parametrize("call, message", [
    (lambda m: m.sample(random_states(1, 3, 2), None, torch.ones(1, 2, dtype=torch.bool)), "history must be"),
    (lambda m: m.sample(torch.zeros(1, 2, 2, 12), None, torch.ones(1, 2, dtype=torch.bool)), "history must be"),
    (lambda m: m.sample(random_states(1, 2, 2), None, torch.ones(1, 3, dtype=torch.bool)), "mask must be"),
    (lambda m: m.sample(random_states(1, 2, 2), None, torch.zeros(1, 2, dtype=torch.bool)), "at least one object"),
    (lambda m: m.sample(random_states(1, 2, 2), torch.zeros(1, 2, 5), torch.ones(1, 2, dtype=torch.bool)),
     "properties must be"),
    (lambda m: m.sample(random_states(1, 2, 2), None, torch.ones(1, 2, dtype=torch.bool), torch.zeros(1, 3, 4)),
     "passive scenes"),
    (lambda m: m.sample(random_states(1, 2, 2), None, torch.ones(1, 2, dtype=torch.bool), num_steps=0),
     "num_steps"),
    (lambda m: m.sample(random_states(1, 2, 2), None, torch.ones(1, 2, dtype=torch.bool), sampler="ddpm"),
     "unknown sampler"),
])
def test_bad_sample_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call(ObjectDiffusionModel(**TINY_MODEL))


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="action kind"):
        ObjectDiffusionModel(action_kind="joystick")
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        ObjectDiffusionModel(horizon=0)
    with pytest.raises(ValueError, match="target_mean has 3 values"):
        ObjectDiffusionModel(**TINY_MODEL, stats={"target_mean": [0.0, 0.0, 0.0]})
    with pytest.raises(ValueError, match="unknown statistics"):
        ObjectDiffusionModel(**TINY_MODEL, stats={"speed_mean": [0.0]})
    model = ObjectDiffusionModel(**TINY_MODEL, action_kind="vector")
    with pytest.raises(ValueError, match="needs actions"):
        model.sample(random_states(1, 2, 2), None, torch.ones(1, 2, dtype=torch.bool))


def test_properties_outside_the_training_range_are_read_at_its_edge():
    low, high = [0.0] * 14, [1.0] * 14
    low[10], high[10] = 0.05, 0.25  # mass, as in space A
    stats = {"property_min": low, "property_max": high}
    history, mask = random_states(1, 2, 2), torch.ones(1, 2, dtype=torch.bool)
    heavy, edge = torch.zeros(1, 2, 14), torch.zeros(1, 2, 14)
    heavy[..., 10], edge[..., 10] = 0.6, 0.25
    model = ObjectDiffusionModel(**TINY_MODEL, stats=stats)
    assert torch.equal(model.condition(history, heavy, mask, None)["objects"],
                       model.condition(history, edge, mask, None)["objects"])
    free = ObjectDiffusionModel(**TINY_MODEL, stats=stats, clamp_properties=False)
    assert not torch.equal(free.condition(history, heavy, mask, None)["objects"],
                           free.condition(history, edge, mask, None)["objects"])
    with pytest.raises(ValueError, match="property_min and property_max"):
        ObjectDiffusionModel(**TINY_MODEL, stats={"property_min": low})


def test_quaternion_matrix_round_trip_including_half_turns():
    angles = torch.tensor([0.0, 0.3, math.pi / 2, math.pi - 1e-4, math.pi])
    axes = torch.nn.functional.normalize(torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -2, 3]]),
                                         dim=-1)
    quat = torch.cat([torch.cos(angles / 2)[:, None], torch.sin(angles / 2)[:, None] * axes], dim=-1)
    back = matrix_to_quat(quat_to_matrix(quat))
    assert torch.allclose(quat_to_matrix(back), quat_to_matrix(quat), atol=1e-5)
    states = random_states(2, 4, 3)
    recovered = states_from_features(relative_features(states, states[:, -1]), states[:, -1])
    same_sign = torch.where((recovered[..., 3:7] * states[..., 3:7]).sum(-1, keepdim=True) < 0, -1.0, 1.0)
    assert torch.allclose(recovered[..., :3], states[..., :3], atol=1e-5)
    assert torch.allclose(recovered[..., 3:7] * same_sign, states[..., 3:7], atol=1e-4)
    assert torch.allclose(recovered[..., 7:], states[..., 7:])


def _tower_scene(extra_at: tuple[float, float, float] | None, lift: float = 0.0):
    """A skill model's inputs: two cubes (half-extent 2.5 cm), the first put on the second, and
    optionally a third cube at ``extra_at``; every object raised by ``lift``."""
    positions = [(0.0, 0.0, 0.025), (0.1, 0.0, 0.025)] + ([extra_at] if extra_at else [])
    n = len(positions)
    states = torch.zeros(1, 2, n, 13)
    states[..., :3] = torch.tensor(positions) + torch.tensor([0.0, 0.0, lift])
    states[..., 3] = 1.0
    props = torch.zeros(1, n, 14)
    props[..., 0], props[..., 7:10] = 1.0, 0.025  # cubes
    names = ["red_cube", "blue_cube", "green_cube"][:n]
    action = encode_skill({"skill": "pick_place", "object": "red_cube", "target": "blue_cube", "dx": 0.0, "dy": 0.0},
                          names)
    actions = torch.from_numpy(np.stack([action] * 3))[None]
    return states, props, torch.ones(1, n, dtype=torch.bool), actions


def _denoise(model, states, props, mask, actions):
    cond = model.condition(states, props, mask, actions)
    x = torch.randn(1, 3, 3, 15, generator=torch.Generator().manual_seed(1))[:, :, :mask.shape[1]]
    return model(x, torch.full((1,), 0.1), **cond), cond


def test_relational_objects_only_see_their_neighbours():
    """A third object 30 cm from both the cubes and the placement changes nothing (what lets a
    model trained on 2-4 objects run on a crowded 6-object scene); one beside the target does."""
    model = _model(action_kind="skill", skill_prior=True, relational=True)
    alone, _ = _denoise(model, *_tower_scene(None))
    far, cond = _denoise(model, *_tower_scene((-0.2, -0.25, 0.025)))
    assert not cond["neighbours"][0, 2, :2].any() and not cond["neighbours"][0, :2, 2].any()
    assert cond["neighbours"][0, 0, 1] and cond["neighbours"][0, 1, 0]  # red goes onto blue
    assert torch.allclose(far[:, :, :2], alone, atol=1e-5)
    near, cond = _denoise(model, *_tower_scene((0.1, 0.07, 0.025)))
    assert cond["neighbours"][0, 2, 1]
    assert not torch.allclose(near[:, :, :2], alone, atol=1e-3)
    plain = _model(action_kind="skill", skill_prior=True)  # full attention: every object counts
    assert not torch.allclose(_denoise(plain, *_tower_scene((-0.2, -0.25, 0.025)))[0][:, :, :2],
                              _denoise(plain, *_tower_scene(None))[0], atol=1e-3)


def test_relational_heights_above_the_clip_are_read_relative():
    """A scene lifted 20 cm above the height clip predicts the same displacements (a tower taller
    than training's reads like a short one); one lifted from the table does not."""
    model = _model(action_kind="skill", skill_prior=True, relational=True, height_clip=0.05)
    high, _ = _denoise(model, *_tower_scene(None, lift=0.1))
    assert torch.allclose(_denoise(model, *_tower_scene(None, lift=0.3))[0], high, atol=1e-5)
    assert not torch.allclose(_denoise(model, *_tower_scene(None))[0], high, atol=1e-3)


def test_relational_model_samples_and_round_trips(tmp_path):
    model = _model(action_kind="skill", skill_prior=True, relational=True)
    states, props, mask, actions = _tower_scene((0.1, 0.07, 0.025))
    model.save_pretrained(tmp_path / "m")
    loaded = ObjectDiffusionModel.from_pretrained(tmp_path / "m")
    a, b = (_sample(m, states, mask, properties=props, actions=actions) for m in (model, loaded))
    assert torch.equal(a, b) and torch.isfinite(a).all()
    with pytest.raises(ValueError, match="neighbour_gap > 0"):
        ObjectDiffusionModel(**TINY_MODEL, relational=True, neighbour_gap=0.0)
