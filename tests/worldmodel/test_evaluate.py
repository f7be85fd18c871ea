"""The final-position sanity read-out."""

import math

import pytest
import torch

from foretell.worldmodel import ObjectDiffusionModel, load_windows
from foretell.worldmodel.evaluate import final_position_error

from .conftest import TINY_MODEL

torch.set_num_threads(1)


def test_final_position_error_reports_model_and_baselines(collide_dataset):
    model = ObjectDiffusionModel(**TINY_MODEL, stats=load_windows([collide_dataset], 2, 3).statistics())
    result = final_position_error(model, [collide_dataset], num_samples=2, num_steps=1, stride=5)
    assert result["horizon_steps"] == 3 and result["windows"] > 0
    for key in ("model_mean_error_m", "model_sample_error_m", "constant_velocity_error_m", "stationary_error_m"):
        assert math.isfinite(result[key]) and result[key] >= 0
    # An untrained model predicts the mean displacement: about as good as standing still, no better than the truth.
    assert result["model_mean_error_m"] < 10 * result["stationary_error_m"] + 0.01
    fewer = final_position_error(model, [collide_dataset], num_samples=1, num_steps=1, stride=50)
    assert fewer["windows"] < result["windows"]
    with pytest.raises(ValueError, match="stride"):
        final_position_error(model, [collide_dataset], stride=0)
