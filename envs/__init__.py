"""foretell.envs: MuJoCo scenes with a gymnasium API, interventions and causal ground truth.

Layered folders, each importing only from the ones below it:

- ``sim``: scene building, physics read-outs, rendering, stepping, interventions, ground truth;
- ``blockstack``, ``scenarios``, ``puzzles``: the env families, each on ``sim`` alone;
- ``measure``: what runs envs to measure them (episodes, QA, variable graphs, first frames).

``registry`` lists the ids; importing this package registers them with gymnasium (string entry
points: cheap, nothing is built).
"""

import gymnasium as gym

from .blockstack.goals import Goal, Predicate, goal_feasibility, instruction_text, parse_instruction
from .blockstack.skills import SKILL_SCHEMA, skill_schema_json
from .measure.qa import questions
from .measure.variable_graph import load_variable_graph, save_variable_graph, variable_graph
from .registry import (
    BLOCKSTACK_IDS,
    ENTRY_POINTS,
    ENV_DESCRIPTIONS,
    PUZZLE_IDS,
    SCENARIO_IDS,
    check_env,
    env_family,
    list_envs,
)
from .sim.ground_truth import but_for_graph, closure_agreement
from .sim.interventions import plan_interventions
from .sim.passive import Rollout, simulate
from .sim.physics import support_from_poses
from .sim.properties import SPACE_A, SPACE_B, PropertySpace, get_space
from .sim.scene import ObjectSpec, build_scene

for _env_id, _entry in ENTRY_POINTS.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry)

__all__ = [
    "BLOCKSTACK_IDS", "ENV_DESCRIPTIONS", "PUZZLE_IDS", "SCENARIO_IDS", "SKILL_SCHEMA", "SPACE_A", "SPACE_B", "Goal",
    "ObjectSpec", "Predicate", "PropertySpace", "Rollout", "build_scene", "but_for_graph", "check_env",
    "closure_agreement", "env_family", "get_space", "goal_feasibility", "instruction_text", "list_envs",
    "load_variable_graph", "parse_instruction", "plan_interventions", "questions", "save_variable_graph",
    "simulate", "skill_schema_json", "support_from_poses", "variable_graph",
]
