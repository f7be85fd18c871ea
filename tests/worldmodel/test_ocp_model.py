"""predict-ocp-v0 for learned models: the contact geometry, the prefix inputs, chained rollouts,
the benchmark's JSON with every column on the same episodes, the comparison video, refusals."""

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from foretell.data import DatasetConfig, EpisodeFile, TaskSpec, generate
from foretell.envs.sim.scene import ObjectSpec
from foretell.worldmodel import ObjectDiffusionModel, TrainConfig, ocp, ocp_model, train
from foretell.worldmodel.regressor import ObjectRegressorModel

from .conftest import STATE_KEYS, TINY_MODEL, randomise

torch.set_num_threads(1)


def _dataset(factory, name, split, episodes, seed=0):
    out = factory.mktemp(name) / "ds"
    generate(DatasetConfig(tasks=(TaskSpec("foretell/Collide-v0", episodes, max_steps=30),), split=split,
                           image_size=16, obs_keys=STATE_KEYS, seed=seed), out, progress=False)
    return out


@pytest.fixture(scope="module")
def ocp_sets(tmp_path_factory):
    """A Collide train split, a test split (30 frames each) and a tiny model + regressor trained on it."""
    train_set, test_set = _dataset(tmp_path_factory, "pt", "train", 12), _dataset(tmp_path_factory, "pe", "test", 10)
    runs = tmp_path_factory.mktemp("runs")
    for kind in ("object", "regressor"):
        train(TrainConfig(data=(str(train_set),), out=str(runs / kind), kind=kind, steps=3, batch_size=4,
                          checkpoint_every=3, warmup_steps=1, device="cpu", model=TINY_MODEL))
    return {"train": train_set, "test": test_set, "model": runs / "object", "regressor": runs / "regressor"}


def _state(pos, quat=(1.0, 0.0, 0.0, 0.0)):
    return np.array([*pos, *quat, 0, 0, 0, 0, 0, 0], float)


def _spec(shape, size, name="x"):
    return ObjectSpec(name=name, shape=shape, color="red", size=size, mass=0.1, friction=0.5, restitution=0.1)


def test_oriented_shapes_touch_where_a_toppled_domino_reaches():
    domino = _spec("domino", (0.01, 0.03, 0.05))
    upright_a, upright_b = _state((0, 0, 0.05)), _state((0.08, 0, 0.05))
    assert not ocp.shapes_touch(domino, domino, upright_a, upright_b, margin=0.0)
    tilt = np.radians(70)  # about y: its top swings towards +x, 5 cm tall -> reaches x ~ 0.047 + thickness
    toppled = _state((0.03, 0, 0.02), (np.cos(tilt / 2), 0, np.sin(tilt / 2), 0))
    assert ocp.shapes_touch(domino, domino, toppled, _state((0.075, 0, 0.05)), margin=0.0)
    ball, cube = _spec("ball", (0.02,)), _spec("cube", (0.02,))
    # a ball beside a cube's face touches at 1 mm overlap; off its vertical edge it is 1.2 mm away
    assert ocp.shapes_touch(ball, cube, _state((0.039, 0, 0.02)), _state((0, 0, 0.02)), margin=0.0)
    assert not ocp.shapes_touch(ball, cube, _state((0.035, 0.035, 0.02)), _state((0, 0, 0.02)), margin=0.0)
    assert ocp.shapes_touch(ball, cube, _state((0.035, 0.035, 0.02)), _state((0, 0, 0.02)), margin=0.01)
    assert ocp.shapes_touch(ball, ball, _state((0, 0, 0.02)), _state((0.039, 0, 0.02)), margin=0.0)
    # vectorised over leading axes: (2, 3) rows of states
    rows = np.stack([np.stack([_state((x, 0, 0.02)) for x in (0.03, 0.05, 0.1)])] * 2)
    assert ocp.shapes_touch(cube, cube, rows, np.zeros_like(rows) + _state((0, 0, 0.02)), 0.0).tolist() == \
        [[True, False, False]] * 2


def test_a_ball_diagonally_off_a_glass_does_not_touch_it():
    """A ball against a cylinder or glass is exact, not the cylinder's square prism: a ball 10 mm
    off a glass on the diagonal touches the prism's corner but not the glass (GlassBreak's
    false contacts)."""
    ball, glass = _spec("ball", (0.023,)), _spec("glass", (0.027, 0.04))
    gap, diagonal = 0.010, np.array([1.0, -1.0, 0.0]) / np.sqrt(2)
    centre = tuple((0.027 + 0.023 + gap) * diagonal + [0, 0, 0.023])
    assert not ocp.shapes_touch(ball, glass, _state(centre), _state((0, 0, 0.04)))
    assert not ocp.shapes_touch(glass, ball, _state((0, 0, 0.04)), _state(centre))
    assert ocp.shapes_touch(ball, glass, _state(centre), _state((0, 0, 0.04)), margin=gap + 1e-4)
    # beside the wall, above the rim, and a toppled cylinder (axis along world x, 2 cm radius, 3 cm
    # half-length): 2 mm above its side (where the upright one would reach), beside its end cap
    cyl = _spec("cylinder", (0.02, 0.03))
    assert ocp.shapes_touch(ball, cyl, _state((0.042, 0, 0.03)), _state((0, 0, 0.03)), margin=0.0)
    assert not ocp.shapes_touch(ball, cyl, _state((0, 0, 0.03 + 0.03 + 0.024)), _state((0, 0, 0.03)), margin=0.0)
    lying = (np.cos(np.pi / 4), 0, np.sin(np.pi / 4), 0)  # 90 degrees about y
    above = _state((0, 0, 0.02 + 0.02 + 0.023 + 0.002))
    assert not ocp.shapes_touch(ball, cyl, above, _state((0, 0, 0.02), lying), margin=0.0)
    assert ocp.shapes_touch(ball, cyl, above, _state((0, 0, 0.02)), margin=0.0)
    assert ocp.shapes_touch(ball, cyl, _state((0.052, 0, 0.02)), _state((0, 0, 0.02), lying), margin=0.0)
    assert not ocp.shapes_touch(ball, cyl, _state((0.056, 0, 0.02)), _state((0, 0, 0.02), lying), margin=0.0)
    rows = np.stack([_state((x, 0, 0.03)) for x in (0.04, 0.05)])  # (2, 13): vectorised over rows
    assert ocp.shapes_touch(ball, cyl, rows, np.stack([_state((0, 0, 0.03))] * 2), 0.0).tolist() == [True, False]

def test_prefix_inputs_hide_what_no_frame_shows_and_pad_short_prefixes(ocp_sets):
    model = randomise(ObjectDiffusionModel(**{**TINY_MODEL, "history": 4}))
    kept = ocp._kept(ocp.cut_dataset(ocp_sets["test"]))
    views = [ocp._episode_view(c) for c in kept[:3]]
    with EpisodeFile(kept[0].path) as ef:
        stored = ef.frames("properties")[0]
    n0 = len(views[0]["specs"])
    everything = ocp_model.prefix_inputs(model, views, [0, 5, 6], "all")
    assert np.allclose(everything["properties"][0, :n0].numpy(), stored[:n0])  # what training read
    visible = ocp_model.prefix_inputs(model, views, [0, 5, 6], "visible")["properties"]
    assert torch.equal(visible[..., :10], everything["properties"][..., :10])  # shape and size
    assert (visible[0, :n0, 10:13] == 0).all()  # mass, friction, restitution at the prior (an untrained model: 0)
    assert ocp_model.prefix_inputs(model, views, [0, 5, 6], "none")["properties"] is None
    hist = everything["history"][0, :, :n0].numpy()  # cut 0 with K = 4: three frames before t = 0
    state = views[0]["state"]
    assert np.allclose(hist[-1], state[0, :n0])
    assert np.allclose(hist[0, :, :3], state[0, :n0, :3] - 3 * 0.04 * state[0, :n0, 7:10], atol=1e-6)
    assert np.allclose(everything["history"][1, :, :len(views[1]["specs"])].numpy(),
                       views[1]["state"][2:6, :len(views[1]["specs"])])
    with pytest.raises(ValueError, match="properties must be one of"):
        ocp_model.prefix_inputs(model, views, [0, 5, 6], "some")


def test_rollout_chains_chunks_on_each_samples_own_history():
    model = randomise(ObjectDiffusionModel(**TINY_MODEL)).eval()  # K = 2, H = 3
    g = torch.Generator().manual_seed(0)
    history = torch.randn(2, 2, 3, 13, generator=g)
    history[..., 3:7] = torch.nn.functional.normalize(history[..., 3:7], dim=-1)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    out = ocp_model.rollout(model, history, None, mask, 5, 4, torch.Generator().manual_seed(1), num_steps=2)
    assert out.shape == (2, 4, 5, 3, 13)
    g = torch.Generator().manual_seed(1)  # by hand: chunk 1, then chunk 2 from chunk 1's last K states
    first = model.sample(history, None, mask, None, 4, 2, g)  # (2, 4, 3, 3, 13)
    second = model.sample(first[:, :, -2:].reshape(8, 2, 3, 13), None, mask.repeat_interleave(4, 0), None, 1, 2, g)
    expect = torch.cat([first, second.view(2, 4, 3, 3, 13)], dim=2)[:, :, :5]
    assert torch.allclose(out, expect)
    assert not torch.allclose(out[:, 0], out[:, 1])  # samples differ
    regressor = randomise(ObjectRegressorModel(**TINY_MODEL)).eval()
    assert ocp_model.rollout(regressor, history, None, mask, 5, 4, g).shape == (2, 1, 5, 3, 13)


def test_evaluate_predict_scores_every_column_on_the_same_episodes(ocp_sets):
    result = ocp_model.evaluate_predict(ocp_sets["model"], [ocp_sets["test"]], regressor_run=ocp_sets["regressor"],
                                        num_samples=3, num_steps=1, batch_size=4)
    kept = ocp._kept(ocp.cut_dataset(ocp_sets["test"]))
    assert result["n"] == len(kept) and set(result["per_env"]) == {"Collide/A"}
    assert set(result["baselines"]) == {"regressor", "majority", "constant_velocity", "first_frame",
                                        "cut_classifier", "simulator", "readout_on_truth"}
    for block in (result, *result["baselines"].values()):
        assert block["n"] == len(kept) and block["per_env"]["Collide/A"]["n"] == len(kept)
        assert 0 <= block["accuracy"] <= 1 and 0 <= block["brier"] <= 1 and 0 <= block["ece"] <= 1
        assert block["per_space"]["A"]["accuracy"] == block["accuracy"]
    assert result["position_error"] > 0 and result["baselines"]["regressor"]["position_error"] > 0
    assert result["baselines"]["majority"]["position_error"] is None
    assert result["per_env"]["Collide/A"]["label_rate"] == pytest.approx(np.mean([c.label for c in kept]))
    assert result["baselines"]["simulator"]["accuracy"] >= 0.8  # the ceiling
    assert result["baselines"]["readout_on_truth"]["accuracy"] >= 0.7  # the read-out on the true future
    assert result["config"]["train"] == [str(ocp_sets["train"])]  # the model's own training data by default
    again = ocp_model.evaluate_predict(ocp_sets["model"], [ocp_sets["test"]], num_samples=3, num_steps=1,
                                       simulator=False, batch_size=4)
    assert "simulator" not in again["baselines"]
    assert {k: again[k] for k in ("brier", "auroc", "position_error")} == \
        {k: result[k] for k in ("brier", "auroc", "position_error")}  # seeded: the same numbers again
    table = ocp_model.markdown(result)
    assert "| Collide/A | model |" in table and "| A (pooled) | regressor |" in table
    json.dumps(result)  # JSON-ready


def test_evaluate_predict_refuses_what_it_cannot_score(ocp_sets, tmp_path):
    with pytest.raises(ValueError, match="'train' split; predict-ocp-v0 scores test splits"):
        ocp_model.evaluate_predict(ocp_sets["model"], [ocp_sets["train"]])
    with pytest.raises(ValueError, match="not an object world model"):
        ocp_model.evaluate_predict(ocp_sets["regressor"], [ocp_sets["test"]])
    with pytest.raises(ValueError, match="not a regressor"):
        ocp_model.evaluate_predict(ocp_sets["model"], [ocp_sets["test"]], regressor_run=ocp_sets["model"])
    skills = tmp_path / "skills"
    ObjectDiffusionModel(**TINY_MODEL, action_kind="skill").save_pretrained(skills)
    with pytest.raises(ValueError, match="'skill'-action scenes"):
        ocp_model.evaluate_predict(skills, [ocp_sets["test"]], train_dirs=[ocp_sets["train"]])
    with pytest.raises(ValueError, match="not a training run.*--train"):
        ocp_model.evaluate_predict(ocp_sets["model"] / "checkpoints" / "step_00000003", [ocp_sets["test"]])
    broken = tmp_path / "broken"
    shutil.copytree(ocp_sets["test"], broken)
    for path in (broken / "episodes").glob("*.h5"):
        import h5py

        with h5py.File(path, "a") as h5:
            del h5["obs/object_mask"]
    with pytest.raises(ValueError, match="missing obs/object_mask"):
        ocp_model.evaluate_predict(ocp_sets["model"], [broken])


def test_evaluate_predict_calibrates_on_validation_seeds_only(ocp_sets, tmp_path_factory):
    val = _dataset(tmp_path_factory, "pv", "train", 12, seed=1)
    result = ocp_model.evaluate_predict(ocp_sets["model"], [ocp_sets["test"]], num_samples=3, num_steps=1,
                                        simulator=False, batch_size=4, calibration_dirs=[val])
    maps, checked = result["calibration"]["maps"], result["calibration"]["cross_validation"]
    assert set(maps) == {"pooled"}  # 12 episodes: too few for a Collide map of its own
    pooled = maps["pooled"]
    assert set(checked["per_family"]) == {"Collide"} and 0 <= checked["calibrated"]["brier"] <= 1
    assert pooled["num_samples"] == 3 and pooled["n"] == len(ocp._kept(ocp.cut_dataset(val)))
    calibrated = result["baselines"]["calibrated"]
    assert calibrated["n"] == result["n"] and calibrated["auroc"] == pytest.approx(result["auroc"])  # monotone map
    assert calibrated["position_error"] == result["position_error"]
    assert result["config"]["calibration_data"] == [str(val)]
    with pytest.raises(ValueError, match="shares 12 episode seeds"):
        ocp_model.evaluate_predict(ocp_sets["model"], [ocp_sets["test"]], simulator=False,
                                   calibration_dirs=[ocp_sets["train"]])
    with pytest.raises(ValueError, match="is a test split"):
        ocp_model.evaluate_predict(ocp_sets["model"], [ocp_sets["test"]], simulator=False,
                                   calibration_dirs=[ocp_sets["test"]])


def test_compare_video_shows_truth_beside_samples(ocp_sets, tmp_path):
    kept = ocp._kept(ocp.cut_dataset(ocp_sets["test"]))
    episode = int(kept[0].path.split("_")[-1].split(".")[0])
    out = tmp_path / "cmp.mp4"
    summary = ocp_model.compare_video(ocp_sets["model"], ocp_sets["test"], episode, out, num_samples=2, size=48)
    assert out.is_file() and not list(tmp_path.glob(".*partial*"))
    video = cv2.VideoCapture(str(out))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    width, height = int(video.get(cv2.CAP_PROP_FRAME_WIDTH)), int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))
    first = video.read()[1]  # (48, 144, 3) BGR
    video.release()
    assert first[24:, :48].mean() > 90  # the truth panel looks at the lit table (not a camera left at the origin)
    assert frames == summary["frames"] == 31 and (width, height) == (3 * 48, 48)
    assert summary["cut"] == kept[0].cut and len(summary["sample_contacts"]) == 2
    with pytest.raises(ValueError, match="--episode 99 is not in"):
        ocp_model.compare_video(ocp_sets["model"], ocp_sets["test"], 99, out)
