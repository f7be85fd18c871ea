"""The registry of foretell envs: ids, entry points, one-line descriptions and families.

Plain data and lookups (no MuJoCo, no gymnasium): ``foretell.envs`` registers these with
gymnasium on import. A new env gets a line in ``ENV_DESCRIPTIONS`` and ``ENTRY_POINTS`` and
joins its family's id tuple. There is no ``max_episode_steps``: each env ends its own episodes
(``max_steps``, part of its snapshots; ``envs.sim.env_base``), so a restored episode ends
where the original did.
"""

from __future__ import annotations

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

ENTRY_POINTS = {
    "foretell/BlockStack-v0": "foretell.envs.blockstack.env:BlockStackEnv",
    "foretell/BlockStackLowLevel-v0": "foretell.envs.blockstack.low_level:BlockStackLowLevelEnv",
    "foretell/Collide-v0": "foretell.envs.scenarios.collide:CollideEnv",
    "foretell/Drop-v0": "foretell.envs.scenarios.drop:DropEnv",
    "foretell/GlassBreak-v0": "foretell.envs.scenarios.glass_break:GlassBreakEnv",
    "foretell/Roll-v0": "foretell.envs.scenarios.roll:RollEnv",
    "foretell/Dominoes-v0": "foretell.envs.scenarios.dominoes:DominoesEnv",
    "foretell/Support-v0": "foretell.envs.scenarios.support:SupportEnv",
    "foretell/ChainReaction-v0": "foretell.envs.scenarios.chain_reaction:ChainReactionEnv",
    "foretell/PuzzleLaunch-v0": "foretell.envs.puzzles.launch:PuzzleLaunchEnv",
    "foretell/PuzzleTopple-v0": "foretell.envs.puzzles.topple:PuzzleToppleEnv",
    "foretell/PuzzleDrop-v0": "foretell.envs.puzzles.drop:PuzzleDropEnv",
}

SCENARIO_IDS: tuple[str, ...] = ("foretell/Collide-v0", "foretell/Roll-v0", "foretell/Drop-v0", "foretell/Dominoes-v0",
                                  "foretell/Support-v0", "foretell/GlassBreak-v0", "foretell/ChainReaction-v0")
"""The passive scenario envs (``envs.scenarios.base.ScenarioEnv``): red agent, yellow patient, causal ground truth."""

BLOCKSTACK_IDS: tuple[str, ...] = ("foretell/BlockStack-v0", "foretell/BlockStackLowLevel-v0")
"""The robot stacking envs (``envs.blockstack``): goals, skills or end-effector control, an expert."""

PUZZLE_IDS: tuple[str, ...] = ("foretell/PuzzleLaunch-v0", "foretell/PuzzleTopple-v0", "foretell/PuzzleDrop-v0")
"""The physics puzzles (``envs.puzzles``): one continuous action per attempt."""

FAMILIES: dict[str, tuple[str, ...]] = {"blockstack": BLOCKSTACK_IDS, "scenario": SCENARIO_IDS, "puzzle": PUZZLE_IDS}


def list_envs() -> dict[str, str]:
    """Registered foretell env ids and their one-line descriptions."""
    return dict(ENV_DESCRIPTIONS)


def env_family(env_id: str) -> str:
    """``"blockstack"``, ``"scenario"`` or ``"puzzle"`` for a registered id; ``ValueError`` otherwise."""
    for family, ids in FAMILIES.items():
        if env_id in ids:
            return family
    raise ValueError(f"unknown env {env_id!r}; registered: {', '.join(sorted(ENV_DESCRIPTIONS))}")


def check_env(env_id: str, *families: str) -> str:
    """Return ``env_id``'s family after checking that it is registered and (if given) one of ``families``."""
    family = env_family(env_id)
    if families and family not in families:
        allowed = [i for f in families for i in FAMILIES[f]]
        raise ValueError(f"{env_id} is a {family} env; this needs a {' or '.join(families)} env: {', '.join(allowed)}")
    return family
