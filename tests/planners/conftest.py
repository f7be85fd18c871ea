"""Fixtures the planner tests share: a PlanBench task and an untrained skill world model."""

from __future__ import annotations

import pytest

from foretell.planners.tasks import load_tasks


@pytest.fixture(scope="module")
def planbench_task():
    return load_tasks("planbench-bw", "test", limit=1)[0]


@pytest.fixture(scope="module")
def tiny_skill_model():
    """An untrained skill model: for wiring tests only (it predicts nothing useful)."""
    import torch

    from foretell.worldmodel import ObjectDiffusionModel

    torch.manual_seed(0)
    return ObjectDiffusionModel(history=1, horizon=1, action_kind="skill", hidden_dim=32, num_layers=1,
                                num_heads=2).eval()
