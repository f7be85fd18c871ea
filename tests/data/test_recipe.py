"""YAML recipes: mixing envs, and clear errors."""

import pytest

from foretell.data.recipe import RecipeError, command_config, load_recipe

RECIPE = """
name: mixed
split: test
space: B
seed: 3
image_size: 32
obs_keys: [rgb, state]
tasks:
  - env: foretell/Collide-v0
    episodes: 2
    max_steps: 6
  - env: foretell/BlockStack-v0
    episodes: 1
    policy: noisy_expert
    noise: 0.3
"""


def test_recipe_mixes_envs(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    config = load_recipe(path)
    assert config.episodes == 3 and config.split == "test" and config.space == "B"
    assert config.task_of(2)[1].env_id == "foretell/BlockStack-v0"
    assert load_recipe(path, overrides={"seed": 9}).seed == 9


@pytest.mark.parametrize("text, message", [
    ("tasks: []", "non-empty list"),
    ("tasks:\n  - env: foretell/Collide-v0\n    episode: 3", r"tasks\[0\]: unknown key\(s\) \['episode'\]"),
    ("tasks:\n  - env: foretell/Nope-v0\n    episodes: 3", "unknown env"),
    ("tasks:\n  - env: foretell/Collide-v0\n    episodes: 3\n    policy: expert", "passive scenario"),
    ("tasks:\n  - env: foretell/BlockStack-v0\n    episodes: 3\n    qa: true", "passive scenarios only"),
    ("tasks:\n  - env: foretell/PuzzleLaunch-v0\n    episodes: 3\n    policy: expert", "is a puzzle"),
    ("split: val\ntasks:\n  - env: foretell/Collide-v0\n    episodes: 3", "split must be one of"),
    ("colour: red\ntasks: []", r"unknown key\(s\) \['colour'\]"),
    ("tasks: [", "not valid YAML"),
])
def test_recipe_errors_say_where(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError, match=message):
        load_recipe(path)


def test_command_line_config():
    config = command_config("foretell/Drop-v0", None, episodes=5, split=None, space="B", seed=None,
                            image_size=None, obs_keys=None, policy=None, noise=None, max_steps=None, qa=False,
                            total_effect=True)
    assert config.episodes == 5 and config.space == "B" and config.tasks[0].total_effect
    with pytest.raises(RecipeError, match="either"):
        command_config("foretell/Drop-v0", "r.yaml")


def test_shipped_recipes_load():
    from pathlib import Path

    recipes = sorted((Path(__file__).parents[2] / "recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        config = load_recipe(path)
        assert sum(task.episodes for task in config.tasks) > 0
