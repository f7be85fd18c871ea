"""The one env contract (``envs.sim.env_base.ForetellEnv``), checked on every registered env:
snapshots that round-trip, interventions that take effect, removals that leave the observation,
the episode's own end, and actions checked before they act."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from foretell.envs import ENV_DESCRIPTIONS, SCENARIO_IDS
from foretell.envs.measure.episodes import make_policy
from foretell.envs.sim.env_base import ForetellEnv
from foretell.envs.sim.scene import PROPERTY_NAMES

ALL_IDS = sorted(ENV_DESCRIPTIONS)
KEYS = ("rgb", "state", "properties", "object_mask")


def assert_same(a, b, where="") -> None:
    """Exact equality of nested observations/infos (arrays element-wise, NaN equal to NaN)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray | float | np.floating):
        assert np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _make(env_id: str, **kwargs) -> gym.Env:
    keys = KEYS if env_id in SCENARIO_IDS else (*KEYS, "instruction")
    return gym.make(env_id, obs_keys=keys, image_size=32, render_size=32, **kwargs)


def _actions(env: gym.Env, seed: int, n: int) -> list:
    """The first ``n`` actions of a deterministic policy (the expert where there is one)."""
    u = env.unwrapped
    if u.family == "puzzle":
        return [np.full(u.action_space.shape, 0.3, dtype=np.float32)]
    if u.family == "scenario":
        return [0] * n
    act = make_policy(env, "expert", seed)
    probe = env.unwrapped.get_state()
    actions = []
    for _ in range(n):
        action = act()
        actions.append(action)
        *_, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    env.unwrapped.set_state(probe)
    return actions


def _run(env: gym.Env, actions: list) -> list:
    out = []
    for action in actions:
        step = env.step(action)
        out.append(step)
        if step[2] or step[3]:
            break
    return out


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_every_env_implements_the_contract(env_id):
    env = _make(env_id)
    u = env.unwrapped
    assert isinstance(u, ForetellEnv) and u.family in ("blockstack", "scenario", "puzzle")
    env.reset(seed=0)
    assert len(u.objects) == len(u.object_names) == len(u.present) and u.present.all()
    assert [o.name for o in u.objects] == u.object_names
    assert u.features()["action_kind"] == u.action_kind
    with pytest.raises(ValueError, match="snapshot"):
        u.set_state({"family": "elsewhere"})
    env.close()


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_snapshot_round_trip_reproduces_the_episode(env_id):
    """set_state(get_state()) then the same actions: the same observations, rewards, ends, infos
    (events, captions, graphs, success timing), because the snapshot holds the random generator,
    the step count and the property space."""
    env = _make(env_id, **({"max_steps": 12} if "LowLevel" in env_id else {}))
    u = env.unwrapped
    env.reset(seed=3, options={"space": "B"})
    actions = _actions(env, 3, 100)
    head = 0 if u.family == "puzzle" else min(2, len(actions) - 1)
    _run(env, actions[:head])
    snapshot = u.get_state()
    first = _run(env, actions[head:])
    u.set_state(snapshot)
    assert u.space.name == "B"
    second = _run(env, actions[head:])
    assert_same(first, second, env_id)
    assert first[-1][2] or first[-1][3], "the replay should reach the episode's end"
    env.close()


@pytest.mark.parametrize("env_id", SCENARIO_IDS)
def test_scenario_ends_once_at_its_horizon_with_its_graph(env_id):
    env = _make(env_id, horizon=80)
    env.reset(seed=1)
    steps = _run(env, [0] * 200)
    assert len(steps) == 80
    *_, terminated, truncated, info = steps[-1]
    assert terminated and not truncated and "causal_graph" in info and info["caption"]


def test_restored_scenario_keeps_its_caption_and_graph():
    env = _make("foretell/GlassBreak-v0")
    u = env.unwrapped
    for seed in range(3):
        env.reset(seed=seed)
        _run(env, [0] * 70)
        snapshot = u.get_state()
        end = _run(env, [0] * 10)[-1][-1]
        u.set_state(snapshot)
        again = _run(env, [0] * 10)[-1][-1]
        assert again["caption"] == end["caption"] and again["causal_graph"] == end["causal_graph"]


def test_low_level_success_timing_survives_a_restore_mid_settle():
    env = _make("foretell/BlockStackLowLevel-v0", max_steps=1000)
    u = env.unwrapped
    env.reset(seed=0)
    act = make_policy(env, "expert", 0)
    snapshots, infos, actions = [], [], []
    for _ in range(1000):
        snapshots.append(u.get_state())
        actions.append(act())
        *_, terminated, truncated, info = env.step(actions[-1])
        infos.append(info)
        if terminated or truncated:
            break
    assert infos[-1]["success"], "the expert should succeed on this seed"
    k = next(k for k, info in enumerate(infos) if info["still_time"] > 0.5)
    env.step(actions[k])  # move on, so the live settle timer differs from the snapshot's
    u.set_state(snapshots[k])
    for j in range(k, len(infos)):
        *_, terminated, _, info = env.step(actions[j])
        assert info["still_time"] == infos[j]["still_time"]
        if terminated:
            assert j == len(infos) - 1, f"success fired at step {j}, originally at {len(infos) - 1}"
            break
    else:
        pytest.fail("no success after the restore")


# ---------------------------------------------------------------------- interventions
def _prop(obs: dict, row: int, name: str) -> float:
    return float(obs["properties"][row, PROPERTY_NAMES.index(name)])


@pytest.mark.parametrize("env_id", ["foretell/Collide-v0", "foretell/BlockStack-v0", "foretell/PuzzleDrop-v0"])
def test_a_mass_intervention_reaches_the_observation(env_id):
    env = _make(env_id)
    u = env.unwrapped
    env.reset(seed=2)
    name = u.object_names[0]
    low, high = u.space.bounds("mass")
    mass = round(0.5 * (low + high), 4)
    u.intervene({f"{name}.mass": mass})
    obs = u._observation()
    assert _prop(obs, 0, "mass") == pytest.approx(mass) and u.objects[0].mass == pytest.approx(mass)


def test_a_fragility_change_is_used_by_the_live_break_rule():
    """counterfactual() from the start and from a frame-0 snapshot agree under a fragility change."""
    env = _make("foretell/GlassBreak-v0")
    u = env.unwrapped
    for seed in range(6):
        env.reset(seed=seed)
        glass = next(o for o in u.objects if o.fragile)
        low, high = u.fragility_range
        for value in (low, high):
            change = {f"{glass.name}.fragility": value}
            start = u.counterfactual(change)
            branched = u.counterfactual(change, state=u.get_state())
            k = start.names.index(glass.name)
            assert start.broken[k] == branched.broken[k], (seed, value)
            np.testing.assert_allclose(start.positions, branched.positions, atol=1e-9)


@pytest.mark.parametrize("env_id", [*SCENARIO_IDS, "foretell/BlockStack-v0"])
def test_a_removed_object_leaves_the_observation(env_id):
    env = _make(env_id)
    u = env.unwrapped
    phantoms = 0
    for seed in range(3):
        env.reset(seed=seed)
        if u.family == "scenario":
            _run(env, [0] * 5)
            protected = {u.agent_name, u.patient_name}
        else:
            protected = {a for p in u.goal.predicates for a in p.args if isinstance(a, str)}
        candidates = [n for n, o in zip(u.object_names, u.objects, strict=True) if n not in protected and not o.frozen]
        if not candidates:
            continue
        gone = candidates[0]
        row = u.object_names.index(gone)
        u.intervene({gone: "remove"})
        steps = _run(env, [0] * 40) if u.family == "scenario" else []
        obs = u._observation()
        assert obs["object_mask"][row] == 0 and not obs["state"][row].any() and not u.present[row]
        assert u.object_names[row] == gone  # rows keep their meaning
        phantoms += sum(e.get("object") == gone for s in steps for e in s[-1]["events"])
    assert phantoms == 0, "a removed object produced events"


def test_space_b_from_reset_options_applies_everywhere():
    env = _make("foretell/Collide-v0", space="A")
    u = env.unwrapped
    env.reset(seed=0, options={"space": "B"})
    assert u.space.name == "B"
    low_b, _ = u.space.bounds("mass")
    u.intervene({f"{u.object_names[0]}.mass": low_b})  # B's range, not A's
    env.reset(seed=0)
    assert u.space.name == "A"


def test_a_grasp_survives_an_intervention():
    env = _make("foretell/BlockStackLowLevel-v0")
    u = env.unwrapped
    env.reset(seed=0)
    act = make_policy(env, "expert", 0)
    for _ in range(400):
        env.step(act())
        if u.tabletop.held >= 0:
            break
    held = u.tabletop.scene.names[u.tabletop.held]
    other = next(n for n in u.object_names if n != held)
    low, high = u.space.bounds("mass")
    u.intervene({f"{other}.mass": low, f"{held}.friction": u.space.bounds("friction")[1]})
    assert u.tabletop.held >= 0 and u.tabletop.scene.names[u.tabletop.held] == held
    before = u.tabletop.gripper_pos.copy()
    obs, *_ = env.step(np.array([0.0, 0.0, 1.0, 1.0], dtype=np.float32))  # lift while gripping
    row = u.object_names.index(held)
    assert obs["state"][row, 2] > before[2] - 0.1 and u.tabletop.held >= 0


# ---------------------------------------------------------------------- actions and options
@pytest.mark.parametrize("bad", [
    {"dx": float("nan")}, {"dx": 5.0}, {"dy": float("inf")}, {"dx": "left"},
])
def test_a_bad_skill_parameter_is_refused_before_anything_moves(bad):
    env = _make("foretell/BlockStack-v0")
    u = env.unwrapped
    env.reset(seed=1)
    before = u.get_state()
    action = {"skill": "pick_place", "object": u.object_names[0], "target": "table", **bad}
    with pytest.raises(ValueError):
        env.step(action)
    assert_same(before, u.get_state())


def test_bad_push_and_index_actions_are_refused():
    env = _make("foretell/BlockStack-v0")
    u = env.unwrapped
    env.reset(seed=1)
    name = u.object_names[0]
    for action in ({"skill": "push", "object": name, "direction": float("nan"), "distance": 0.05},
                   {"skill": "push", "object": name, "direction": 0, "distance": -1.0},
                   {"skill": 0, "object": 0, "target": 6, "params": [float("nan"), 0, 0]},
                   {"skill": 7, "object": 0, "target": 1, "params": [0, 0, 0]}):
        with pytest.raises(ValueError):
            env.step(action)
    with pytest.raises(ValueError, match="4 finite"):
        low = _make("foretell/BlockStackLowLevel-v0")
        low.reset(seed=0)
        low.step(np.array([np.nan, 0, 0, 0]))


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6])
def test_reset_with_objects_and_no_goal_works_for_every_count(count):
    from foretell.envs import get_space
    from foretell.envs.blockstack.scenes import sample_layout, sample_objects

    env = _make("foretell/BlockStack-v0")
    for seed in range(6):
        rng = np.random.default_rng(seed)
        objects = []
        while len(objects) < count:
            objects += sample_objects(rng, get_space("A"), need_ball=False)
        objects = [dataclasses.replace(o, name=f"o{k}_{o.shape}") for k, o in enumerate(objects[:count])]
        sample_layout(rng, objects)
        obs, info = env.reset(seed=seed, options={"objects": objects})
        assert info["object_names"] == [o.name for o in objects] and obs["object_mask"].sum() == count


def test_envs_without_images_build_no_renderer():
    for env_id in ALL_IDS:
        env = gym.make(env_id, obs_keys=("state",))
        env.reset(seed=0)
        env.step(_actions(env, 0, 1)[0])
        assert env.unwrapped._renderers.open == 0, env_id
        env.close()


def test_blockstack_counterfactual_replays_and_ground_truth_by_but_for():
    env = _make("foretell/BlockStack-v0")
    u = env.unwrapped
    env.reset(seed=1)
    act = make_policy(env, "expert", 1)
    positions = [u._positions()]
    for _ in range(10):
        *_, terminated, truncated, _ = env.step(act())
        positions.append(u._positions())
        if terminated or truncated:
            break
    before = u.get_state()
    factual = u.counterfactual({})
    np.testing.assert_array_equal(factual.positions, np.array(positions))  # replay = the episode
    assert_same(before, u.get_state())  # the env is left as it was
    heavy = u.counterfactual({f"{u.object_names[0]}.mass": u.space.bounds("mass")[1]})
    assert heavy.positions.shape == factual.positions.shape
    truth = u.ground_truth()
    moved = {v for _, v in truth["total_effect"].out_edges("agent")}
    grasped = {v for _, v in truth["contacts"].edges("agent")}
    assert grasped and grasped <= moved
    with pytest.raises(ValueError, match="needs the actions"):
        u.counterfactual({}, state=before)
