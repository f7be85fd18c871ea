"""Roll, Dominoes, Support and ChainReaction: their physics answers interventions as it should."""

import gymnasium as gym
import numpy as np
import pytest

import foretell.envs  # noqa: F401  (registers the envs)


def _positives(env_id: str, count: int, space: str = "A", keep=lambda u: True):
    """Seeds whose factual run touches agent to patient (and pass ``keep``), with their envs."""
    env = gym.make(env_id, space=space, obs_keys=("state",))
    u = env.unwrapped
    found = []
    for seed in range(200):
        env.reset(seed=seed)
        if keep(u) and u.counterfactual({}).touched(u.agent_name, u.patient_name):
            found.append(seed)
            if len(found) == count:
                break
    return env, found


def _opens_a_gap(u) -> bool:
    """Four dominoes, and without the middle one the pushed one cannot reach the red one (the
    gap would be over 1.3 domino heights; a falling domino reaches about 1.15)."""
    objects = u.initial_objects
    gap = np.linalg.norm(np.subtract(objects[2].pos[:2], objects[0].pos[:2]))
    return len(objects) == 4 and gap > 1.3 * 2 * objects[0].half_height


def test_removing_a_middle_domino_stops_the_chain():
    env, seeds = _positives("foretell/Dominoes-v0", 5, keep=_opens_a_gap)
    assert len(seeds) == 5
    u = env.unwrapped
    for seed in seeds:
        env.reset(seed=seed)
        middle = u.initial_objects[1].name  # pushed, middle, red, yellow
        assert not u.counterfactual({middle: "remove"}).touched(u.agent_name, u.patient_name), seed


def test_removing_the_launcher_stops_the_chain_reaction():
    env, seeds = _positives("foretell/ChainReaction-v0", 5, space="B")
    u = env.unwrapped
    for seed in seeds:
        env.reset(seed=seed)
        launcher = u.initial_objects[0].name
        assert not u.counterfactual({launcher: "remove"}).touched(u.agent_name, u.patient_name), seed


def test_a_standing_structure_falls_without_the_support_under_its_top():
    env = gym.make("foretell/Support-v0", obs_keys=("state",))
    u = env.unwrapped
    checked = 0
    for seed in range(60):
        env.reset(seed=seed)
        factual = u.counterfactual({})
        k = factual.names.index(u.agent_name)
        if np.linalg.norm(factual.positions[-1, k] - factual.positions[0, k]) > 0.01:
            continue  # it fell anyway
        agent = next(o for o in u.initial_objects if o.name == u.agent_name)
        below = min((o for o in u.initial_objects if o.pos[2] < agent.pos[2] and o.name != u.patient_name
                     and np.linalg.norm(np.subtract(o.pos[:2], agent.pos[:2])) < 0.06),
                    key=lambda o: agent.pos[2] - o.pos[2], default=None)
        if below is None:
            continue
        cf = u.counterfactual({below.name: "remove"})
        j = cf.names.index(u.agent_name)
        assert cf.positions[-1, j, 2] < factual.positions[-1, k, 2] - 0.01, seed
        checked += 1
        if checked == 5:
            break
    assert checked == 5


def test_the_ramp_is_scenery():
    env = gym.make("foretell/Roll-v0", space="B", obs_keys=("state",))
    env.reset(seed=3)
    u = env.unwrapped
    ramp = next(o for o in u.initial_objects if o.shape == "ramp")
    assert ramp.frozen
    k = u.object_names.index(ramp.name)
    start = u.sim.positions()[k].copy()
    for _ in range(40):
        env.step(0)
    assert np.linalg.norm(u.sim.positions()[k] - start) < 1e-4  # the ball rolled over it
    with pytest.raises(ValueError, match="scenery"):
        u.intervene({f"{ramp.name}.size": 1.1})
    # without the ramp, the ball starts in mid-air and falls: a but-for effect of the ramp
    graph = u.ground_truth()["total_effect"]
    assert graph.has_edge(ramp.name, u.agent_name)


def test_domino_size_intervention_keeps_it_standing():
    env = gym.make("foretell/Dominoes-v0", obs_keys=("state",))
    env.reset(seed=0)
    u = env.unwrapped
    name = u.initial_objects[-1].name  # the yellow domino, standing still until the chain arrives
    low, high = u.space.domino_half_height
    with pytest.raises(ValueError, match=r"allowed \["):
        u.intervene({f"{name}.size": 2 * high / low})
    u.intervene({f"{name}.size": 1.1})
    k = u.object_names.index(name)
    assert u.sim.positions()[k, 2] == pytest.approx(u.scene.objects[k].half_height + 1e-3, abs=2e-3)


def test_orientation_intervention_lays_a_domino_down():
    env = gym.make("foretell/Dominoes-v0", obs_keys=("state",))
    env.reset(seed=1)
    u = env.unwrapped
    name = u.initial_objects[-1].name
    with pytest.raises(ValueError, match="quaternion"):
        u.intervene({f"{name}.orientation": (0.0, 0.0, 0.0, 0.0)})
    lying = (np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0)  # 90 degrees about x: on its side
    top = u.scene.objects[u.object_names.index(name)].half_extents()[1]
    k = u.object_names.index(name)
    pos = u.sim.positions()[k].copy()
    u.intervene({f"{name}.orientation": (2 * lying[0], 2 * lying[1], 0.0, 0.0),
                 f"{name}.position": (pos[0], pos[1], top + 1e-3)})
    for _ in range(5):
        env.step(0)
    from foretell.envs.sim.physics import up_alignment
    assert abs(up_alignment(u.sim.states()[k, 3:7])) < 0.05  # lying flat, and it stays so


def test_counterfactual_branches_from_a_saved_state_and_leaves_the_env_alone():
    env = gym.make("foretell/Collide-v0", obs_keys=("state",))
    env.reset(seed=4)
    u = env.unwrapped
    for _ in range(10):
        env.step(0)
    mid = u.get_state()
    same = u.counterfactual({}, state=mid)
    again = u.counterfactual({}, state=mid)
    assert same.positions.tobytes() == again.positions.tobytes()
    assert u._frame == 10 and u.interventions == []  # the env is where it was
    rest = [env.step(0)[0]["state"][: len(u.object_names), :3] for _ in range(u.horizon - 10)]
    np.testing.assert_array_equal(same.positions[1:], np.array(rest))  # no change: the factual future
    other = next(n for n in u.object_names if n not in (u.agent_name, u.patient_name))
    branched = u.counterfactual({u.agent_name: "freeze", other: "remove"}, state=mid)
    assert branched.positions.shape[0] == u.horizon - 10 + 1
    assert np.isnan(branched.positions[:, branched.names.index(other)]).all()  # removed from the branch
    k = branched.names.index(u.agent_name)
    assert np.linalg.norm(branched.positions[-1, k] - branched.positions[0, k]) < 1e-4  # held where it was
