import json
import os

import numpy as np
import pytest

from foretell.runtime import atomic_write_json, make_run_dir, resolve_device, seed_everything


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = atomic_write_json(tmp_path / "sub" / "x.json", {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(path.parent) == ["x.json"]


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = atomic_write_json(tmp_path / "x.json", {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["x.json"]


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


def test_resolve_cuda_without_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.gpu
def test_resolve_cuda_with_cuda():
    assert resolve_device("cuda") == "cuda"


def test_seed_everything_returns_seeded_generator():
    assert seed_everything(3).random() == np.random.default_rng(3).random()


def test_run_dir_is_unique(tmp_path):
    a, b = make_run_dir(tmp_path, "x"), make_run_dir(tmp_path, "x")
    assert a != b and a.is_dir() and b.is_dir()
