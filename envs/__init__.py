"""foretell.envs: MuJoCo scenes with a gymnasium API, skills, goals and a privileged expert.

Importing this package registers the envs (string entry points: cheap, nothing is built).
"""

import gymnasium as gym

from .goals import Goal, Predicate, goal_feasibility, instruction_text, parse_instruction
from .ground_truth import but_for_graph, closure_agreement
from .interventions import plan_interventions
from .passive import Rollout, simulate
from .properties import SPACE_A, SPACE_B, PropertySpace, get_space
from .qa import questions
from .scene import ObjectSpec, build_scene
from .skills import SKILL_SCHEMA, skill_schema_json
from .variable_graph import load_variable_graph, save_variable_graph, variable_graph

ENV_DESCRIPTIONS: dict[str, str] = {
    "foretell/BlockStack-v0": "Stack mixed-shape objects with pick_place/push skills; physics decides what stands.",
    "foretell/BlockStackLowLevel-v0": "BlockStack with continuous end-effector deltas + grip (learned control).",
    "foretell/Collide-v0": "A red ball is launched at a yellow target among distractors; will it hit?",
    "foretell/Drop-v0": "A red object is dropped near a yellow target among distractors; will it land on it?",
    "foretell/GlassBreak-v0": "A red ball is launched at a fragile yellow glass; will it hit it, will it break?",
    "foretell/Roll-v0": "A red ball rolls down a ramp towards a yellow target among distractors; will it hit?",
    "foretell/Dominoes-v0": "A pushed domino starts a chain with uneven gaps; will the red domino topple the yellow?",
    "foretell/Support-v0": "Towers and bridges (some missing a support) that may fall; will the red top hit the yellow?",
    "foretell/ChainReaction-v0": "A flick or a ramp topples a row of dominoes; will the last, red one fall onto the yellow?",
    "foretell/PuzzleLaunch-v0": "Puzzle: launch the red ball (yaw, elevation, speed) to knock or hit yellow; avoid purple.",
    "foretell/PuzzleTopple-v0": "Puzzle: shoot the red ball at a tower or dominoes so yellow lands in the green zone.",
    "foretell/PuzzleDrop-v0": "Puzzle: drop the red ball (x, y, clearance) so that the yellow object touches the blue one.",
}

_ENTRY_POINTS = {
    "foretell/BlockStack-v0": ("foretell.envs.block_stack:BlockStackEnv", 50),
    # 1000 x 40 ms = 40 s: a six-high tower takes the scripted expert ~600 steps.
    "foretell/BlockStackLowLevel-v0": ("foretell.envs.block_stack_low_level:BlockStackLowLevelEnv", 1000),
    "foretell/Collide-v0": ("foretell.envs.collide:CollideEnv", 75),
    "foretell/Drop-v0": ("foretell.envs.drop:DropEnv", 75),
    "foretell/GlassBreak-v0": ("foretell.envs.glass_break:GlassBreakEnv", 75),
    "foretell/Roll-v0": ("foretell.envs.roll:RollEnv", 75),
    "foretell/Dominoes-v0": ("foretell.envs.dominoes:DominoesEnv", 75),
    "foretell/Support-v0": ("foretell.envs.support:SupportEnv", 75),
    "foretell/ChainReaction-v0": ("foretell.envs.chain_reaction:ChainReactionEnv", 75),
    # Puzzles: one step is one whole attempt (4 s simulated).
    "foretell/PuzzleLaunch-v0": ("foretell.envs.puzzle_launch:PuzzleLaunchEnv", 1),
    "foretell/PuzzleTopple-v0": ("foretell.envs.puzzle_topple:PuzzleToppleEnv", 1),
    "foretell/PuzzleDrop-v0": ("foretell.envs.puzzle_drop:PuzzleDropEnv", 1),
}

SCENARIO_IDS: tuple[str, ...] = ("foretell/Collide-v0", "foretell/Roll-v0", "foretell/Drop-v0", "foretell/Dominoes-v0",
                                  "foretell/Support-v0", "foretell/GlassBreak-v0", "foretell/ChainReaction-v0")
"""The passive scenario envs (``envs.scenario.ScenarioEnv``): red agent, yellow patient, causal ground truth."""

for _env_id, (_entry, _max_steps) in _ENTRY_POINTS.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry, max_episode_steps=_max_steps)


def list_envs() -> dict[str, str]:
    """Registered foretell env ids and their one-line descriptions."""
    return dict(ENV_DESCRIPTIONS)


__all__ = ["ENV_DESCRIPTIONS", "SCENARIO_IDS", "SKILL_SCHEMA", "SPACE_A", "SPACE_B", "Goal", "ObjectSpec", "Predicate",
           "PropertySpace", "Rollout", "build_scene", "but_for_graph", "closure_agreement", "get_space",
           "goal_feasibility", "instruction_text", "list_envs", "parse_instruction", "plan_interventions",
           "simulate", "skill_schema_json", "variable_graph", "save_variable_graph", "load_variable_graph",
           "questions"]
