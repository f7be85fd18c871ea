"""foretell.planners: LLM backends, the planner loop, its baselines and the planning benchmarks.

- ``llm``: ``LLMBackend.complete(prompt, n, temperature, max_tokens, stop, json_schema, seed)``
  with token accounting; ``make_backend("local" | "openai" | "transformers" | "replay", ...)``.
- ``plans`` / ``prompts``: the plan JSON schema for constrained decoding, ``parse_plan`` (accepts
  or rejects with a reason; never executes model text), scene descriptions and few-shot prompts.
- ``tasks`` / ``planbench``: the task sets ``stack-physics-v0`` and ``planbench-bw``.
- ``loop``: ``Planner`` runs every variant (``llm``, ``llm+wm``, ``llm+sim``, ``cem+wm``,
  ``random``, ``blind``, ``expert``); ``verify``: the world-model and simulator verifiers;
  ``search``: CEM over skill sequences; ``bench``: runs, records, resume and the Ray backend.
- ``puzzles`` / ``puzzle_prompts``: puzzles-v0 agents ``cem+wm`` and ``llm+cem`` (CEM over the
  continuous action on a passive world model, seeded by the LLM's proposals), scored by the
  benchmark's AUCCESS harness (``evaluate_world_model``; ``foretell eval puzzles --agent``).

The privileged scripted expert for BlockStack lives in ``foretell.envs.blockstack.expert``
because dataset generation (``foretell.data``) needs it and may not import planners.
"""

from .backends import make_backend
from .bench import bench_plan, plan_run, results_table
from .llm import LLMBackend, Usage
from .loop import PLANNERS, EpisodeResult, Planner, PlannerConfig, summarise
from .plans import MAX_PLAN_STEPS, PlanCheck, action_text, parse_plan, plan_schema
from .prompts import build_prompt, describe_scene, feedback_for_rejection
from .puzzles import PuzzleSolverConfig, WorldModelPuzzleAgent, evaluate_world_model
from .tasks import TASK_SETS, PlanTask, load_tasks, make_env, physics_blind_plan
from .verify import SimulatorVerifier, WorldModelVerifier

__all__ = [
    "MAX_PLAN_STEPS", "PLANNERS", "TASK_SETS", "EpisodeResult", "LLMBackend", "PlanCheck", "PlanTask", "Planner",
    "PlannerConfig", "PuzzleSolverConfig", "SimulatorVerifier", "Usage", "WorldModelVerifier", "action_text", "bench_plan",
    "build_prompt", "describe_scene", "feedback_for_rejection", "load_tasks", "make_backend", "make_env",
    "parse_plan", "physics_blind_plan", "plan_run", "plan_schema", "results_table", "summarise",
    "WorldModelPuzzleAgent", "evaluate_world_model",
]
