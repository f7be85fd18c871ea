"""Read-outs over predicted states, and ``support_from_poses`` against the simulator's contacts."""

import gymnasium as gym
import numpy as np
import pytest

import foretell.envs  # noqa: F401 - registers the envs
from foretell.envs import ObjectSpec, support_from_poses
from foretell.envs.measure.episodes import make_policy
from foretell.envs.sim import physics
from foretell.worldmodel import readouts

CUBE = 0.02


def _cube(name: str, fragile: bool = False, fragility: float = 0.0) -> ObjectSpec:
    return ObjectSpec(name=name, shape="cube", color=name.split("_")[0], size=(CUBE,), mass=0.1, friction=0.5,
                      restitution=0.1, fragile=fragile, fragility=fragility)


def _state(x: float, y: float, z: float, quat=(1.0, 0.0, 0.0, 0.0), vel=(0.0, 0.0, 0.0)) -> np.ndarray:
    return np.array([x, y, z, *quat, *vel, 0.0, 0.0, 0.0])


OBJECTS = [_cube("red_cube"), _cube("blue_cube"), _cube("green_cube")]
# red rests on blue, blue and green on the table, apart
STACK = np.stack([_state(0.0, 0.0, 3 * CUBE + 0.0005), _state(0.0, 0.0, CUBE), _state(0.1, 0.0, CUBE)])


def test_support_from_poses_matches_the_simulator_on_settled_states():
    env = gym.make("foretell/BlockStack-v0", obs_keys=("state",))
    checked = 0
    for seed in (0, 3, 5):
        env.reset(seed=seed)
        act = make_policy(env, "expert", seed)
        for _ in range(2):
            tt = env.unwrapped.tabletop
            on, on_table = physics.support_matrix(tt.scene, tt.data)
            on2, on_table2 = support_from_poses(physics.object_states(tt.scene, tt.data), tt.scene.objects)
            np.testing.assert_array_equal(on, on2)
            np.testing.assert_array_equal(on_table, on_table2)
            checked += 1
            action = act()
            if action["skill"] == "declare_infeasible":
                break
            *_, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    env.close()
    assert checked >= 4


def test_support_on_hand_made_states_and_batches():
    on, on_table = readouts.support(STACK, OBJECTS)
    assert on[0, 1] and not on[1, 0] and on.sum() == 1
    np.testing.assert_array_equal(on_table, [False, True, True])
    lifted = STACK.copy()
    lifted[0, 2] += 0.02  # 2 cm above blue: not touching
    batch = np.stack([STACK, lifted])[:, None]  # (2, 1, N, 13)
    on, on_table = readouts.support(batch, OBJECTS)
    assert on.shape == (2, 1, 3, 3) and on[0, 0, 0, 1] and not on[1, 0, 0, 1]
    on, _ = readouts.support(STACK, OBJECTS, mask=np.array([True, False, True]))
    assert not on.any()  # an absent row takes part in no relation
    with pytest.raises(ValueError, match="N=3"):
        readouts.support(STACK[:2], OBJECTS)


def test_goal_truth_and_p_goal_stable():
    names = [o.name for o in OBJECTS]
    on, on_table = readouts.support(STACK, OBJECTS)
    assert readouts.goal_truth(["on(red_cube, blue_cube)", "clear(red_cube)", "on_table(green_cube)"], names,
                               on, on_table)
    assert not readouts.goal_truth(["on(blue_cube, red_cube)"], names, on, on_table)
    assert readouts.goal_truth(["tower_height(2)"], names, on, on_table)
    assert not readouts.goal_truth(["tower_height(3)"], names, on, on_table)
    with pytest.raises(ValueError, match="unknown object 'pink_cube'"):
        readouts.goal_truth(["on(pink_cube, red_cube)"], names, on, on_table)
    moving = STACK.copy()
    moving[0, 7] = 0.2  # red still sliding
    fallen = STACK.copy()
    fallen[0, :3] = (0.0, 0.08, CUBE)
    samples = np.stack([STACK, STACK, moving, fallen])  # (S=4, N, 13)
    assert readouts.p_goal_stable(samples, ["on(red_cube, blue_cube)"], OBJECTS) == pytest.approx(0.5)


def test_falls_contacts_breaks_and_final_positions():
    t = np.linspace(0.0, 1.0, 5)[:, None]
    falling = np.repeat(STACK[None], 5, axis=0)  # (T, N, 13)
    falling[:, 0, 1] = 0.06 * t[:, 0]  # red slides off blue ...
    falling[:, 0, 2] = 3 * CUBE - 2 * CUBE * t[:, 0]  # ... and down to the table
    still = np.repeat(STACK[None], 5, axis=0)
    samples = np.stack([falling, still])  # (S=2, T, N, 13)
    fell = readouts.falls(samples, OBJECTS, STACK)
    np.testing.assert_array_equal(fell, [[True, False, False], [False, False, False]])
    tipped = still.copy()
    tipped[-1, 2, 3:7] = (np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0)  # green on its side
    assert readouts.falls(tipped, OBJECTS, STACK)[2]
    # red and blue touch throughout; green, 10 cm away, touches nothing until it is pushed over
    touch = readouts.contacts(samples, OBJECTS)
    assert touch[0, 0, 1] and touch[0, 1, 0] and not touch[0, 0, 2] and not touch[0, 0, 0]
    pushed = still.copy()
    pushed[2:, 2, 0] = 2 * CUBE * np.sqrt(2) + 0.002
    assert readouts.p_contact(np.stack([pushed, still]), OBJECTS, "blue_cube", "green_cube") == pytest.approx(0.5)
    fragile = [*OBJECTS[:2], _cube("green_cube", fragile=True, fragility=0.05)]
    hit = still.copy()
    hit[2, 2, 7] = 1.0  # 0.1 kg x 1 m/s = 0.1 N s > 0.05
    broke = readouts.breaks(np.stack([hit, still]), fragile, STACK)
    np.testing.assert_array_equal(broke[:, 2], [True, False])
    assert not readouts.breaks(hit, OBJECTS, STACK).any()  # nothing is fragile
    mean, std = readouts.final_positions(samples)
    assert mean.shape == (3, 3) and std[0, 1] == pytest.approx(0.03) and std[1].max() == 0.0


def test_an_object_on_a_plate_rests_on_it_at_the_planners_loose_tolerance():
    """At the 2 cm gap the planner reads predicted states with, a cube lying on a thin plate is
    within reach of the table too; it still rests on the plate, not on the table alone."""
    objects = [ObjectSpec(name="gray_plate", shape="plate", color="gray", size=(0.045, 0.008), mass=0.05,
                          friction=0.8, restitution=0.0), _cube("red_cube")]
    states = np.stack([_state(0.0, 0.0, 0.008), _state(0.0, 0.0, 0.016 + CUBE)])
    for tolerance in (None, 0.02):
        on, on_table = readouts.support(states, objects, tolerance=tolerance)
        assert on[1, 0] and not on[0, 1]
        assert on_table[0] and on_table[1] == (tolerance == 0.02)
