"""PlanBench Blocksworld on BlockStack: PDDL parsing, optimal plans, and the mapping onto cubes.

The 500 plan-generation instances of PlanBench (Valmeekam et al., NeurIPS 2023 Datasets and
Benchmarks) ship unchanged in ``planners/data/planbench/`` (MIT licence; provenance in
``planners/data/PLANBENCH_SOURCE.md``). Each is a PDDL problem over 4 or 5 blocks ``a..e``: the
initial stacks (``on``, ``ontable``, ``clear``, ``handempty``) and a goal conjunction of ``on``.

Parsing uses the ``pddl`` package (AI-Planning's maintained PDDL 3.1 parser, built on lark); one
parser object is built once and reused, because building it costs ~0.1 s and parsing a file
~1.5 ms. The parsed facts are then checked for a consistent Blocksworld state: every block rests
on exactly one thing, no cycles, ``clear`` exactly where nothing is on top, the hand empty.

Mapping onto ``foretell/BlockStack-v0``: every block becomes a cube of the same size, mass,
friction and restitution (``CUBE``), named by colour (``BLOCK_COLORS``: ``a`` -> ``red_cube``);
stacks stand on ``TABLE_SLOTS`` with their cubes placed exactly resting, one on another.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..envs import ObjectSpec

DATA_DIR = Path(str(resources.files("foretell.planners").joinpath("data", "planbench")))
"""The unchanged copy of the PlanBench Blocksworld folder (LICENSE, README.md, blocksworld/)."""
N_INSTANCES = 500

BLOCK_COLORS = {"a": "red", "b": "blue", "c": "orange", "d": "yellow", "e": "white"}
"""Block -> colour word (all in ``foretell.envs.sim.properties.COLORS``); one fixed mapping for
every instance so prompts can name a block either way."""
CUBE = {"half": 0.025, "mass": 0.15, "friction": 0.8, "restitution": 0.02}
"""Every block's cube: half-edge (m), mass (kg), friction, restitution; all inside space A's ranges."""
TABLE_SLOTS = ((-0.07, -0.13), (-0.07, 0.0), (-0.07, 0.13), (0.07, -0.13), (0.07, 0.0), (0.07, 0.13))
"""Table positions (x, y) of the initial stacks, 13-14 cm apart: a fallen 5-cube tower (25 cm)
can reach a neighbour, but a standing one never touches it."""
REST_GAP = 1e-4
"""Gap (m) left under each cube at build time: it settles 0.1 mm instead of being pushed out of
an interpenetration, so stacks of five start still."""


@dataclass(frozen=True)
class BlocksworldProblem:
    """One Blocksworld problem in symbolic form.

    Attributes:
        name: the PDDL problem name (``BW-rand-4``) and, when read from a file, the file stem.
        blocks: block names, sorted.
        below: ``below[x]`` is the block ``x`` rests on, or ``None`` for the table.
        goal: the goal's ``on`` facts ``(upper, lower)``, in file order.
    """

    name: str
    blocks: tuple[str, ...]
    below: dict[str, str | None]
    goal: tuple[tuple[str, str], ...]

    def stacks(self) -> list[list[str]]:
        """The initial stacks, bottom to top, ordered by their base block's name."""
        above = {lower: upper for upper, lower in self.below.items() if lower is not None}
        out = []
        for base in sorted(b for b in self.blocks if self.below[b] is None):
            stack = [base]
            while stack[-1] in above:
                stack.append(above[stack[-1]])
            out.append(stack)
        return out


@functools.cache
def _parser():
    from pddl.parser.problem import ProblemParser  # lark grammar: built once, reused

    return ProblemParser()


def instance_path(number: int) -> Path:
    """Path of ``instance-<number>.pddl`` (1..500)."""
    if not 1 <= number <= N_INSTANCES:
        raise ValueError(f"PlanBench Blocksworld instance number must be in [1, {N_INSTANCES}], got {number}")
    return DATA_DIR / "blocksworld" / f"instance-{number}.pddl"


def parse_problem(text: str, name: str = "") -> BlocksworldProblem:
    """Parse a Blocksworld PDDL problem and check that its initial state is consistent.

    Args:
        text: the PDDL problem text.
        name: a label for error messages and ``BlocksworldProblem.name`` (default: the PDDL name).

    Raises:
        ValueError: the text is not PDDL, or its facts are not a Blocksworld state with an
            ``on``-only goal (the message names the problem and the offending fact).
    """
    from lark.exceptions import LarkError

    try:
        problem = _parser()(text)
    except (LarkError, ValueError) as exc:  # pddl raises lark's errors for syntax, ValueError for semantics
        raise ValueError(f"{name or 'problem'}: not a valid PDDL problem: {exc}") from None
    label = name or str(problem.name)
    blocks = tuple(sorted(str(o.name) for o in problem.objects))
    facts = [(str(p.name), tuple(str(t.name) for t in p.terms)) for p in problem.init]
    below = _initial_state(label, blocks, facts)
    goal_atoms = getattr(problem.goal, "operands", (problem.goal,))
    goal = []
    for atom in goal_atoms:
        pred = getattr(atom, "name", None)
        args = tuple(str(t.name) for t in getattr(atom, "terms", ()))
        if pred != "on" or len(args) != 2 or not set(args) <= set(blocks):
            raise ValueError(f"{label}: goal must be a conjunction of on(x, y) over {blocks}, got {atom}")
        goal.append(args)
    return BlocksworldProblem(label, blocks, below, tuple(goal))


def _initial_state(label: str, blocks: tuple[str, ...], facts: list[tuple[str, tuple]]) -> dict[str, str | None]:
    """``below`` from the init facts; every inconsistency is a ``ValueError``."""
    below: dict[str, str | None] = {}
    clear, handempty = set(), False
    for pred, args in facts:
        if not set(args) <= set(blocks):
            raise ValueError(f"{label}: init fact {pred}{args} names an unknown block; blocks: {blocks}")
        if pred in ("on", "ontable"):
            upper = args[0]
            if upper in below:
                raise ValueError(f"{label}: block {upper} rests on two things in :init")
            below[upper] = args[1] if pred == "on" else None
        elif pred == "clear":
            clear.add(args[0])
        elif pred == "handempty":
            handempty = True
        else:
            raise ValueError(f"{label}: unexpected init fact {pred}{args}; expected on, ontable, clear, handempty")
    if not handempty or set(below) != set(blocks):
        raise ValueError(f"{label}: :init must have handempty and place every block; placed {sorted(below)}")
    for block in blocks:  # a cycle would never reach the table
        seen, cur = set(), block
        while below[cur] is not None:
            if cur in seen:
                raise ValueError(f"{label}: the on facts form a cycle through {cur}")
            seen.add(cur)
            cur = below[cur]
    covered = {b for b in below.values() if b is not None}
    if len(covered) != sum(b is not None for b in below.values()) or clear != set(blocks) - covered:
        raise ValueError(f"{label}: clear facts {sorted(clear)} disagree with the stacks (covered: {sorted(covered)})")
    return below


def load_problem(number: int) -> BlocksworldProblem:
    """Parse ``instance-<number>.pddl`` from the shipped copy; its name is ``instance-<number>``."""
    return parse_problem(instance_path(number).read_text(), name=f"instance-{number}")


# ---------------------------------------------------------------- optimal plans (BFS)
def optimal_moves(below: dict[str, str | None], goal_on: list[tuple[str, str]] | tuple = (),
                  goal_on_table: list[str] | tuple = ()) -> list[tuple[str, str]]:
    """A shortest plan of moves ``(block, destination)`` (destination a block or ``"table"``).

    One move picks a clear block and puts it on the table or on another clear block: one
    BlockStack ``pick_place`` and two PDDL actions (pick-up/unstack, then put-down/stack).
    Breadth-first search over all states (501 for 5 blocks, 4,051 for 6), so the plan is optimal.

    Args:
        below: the start state, block -> block it rests on or ``None`` (table).
        goal_on: ``(upper, lower)`` facts that must hold.
        goal_on_table: blocks that must rest on the table.

    Raises:
        ValueError: a goal fact names an unknown block, or no state satisfies the goal.
    """
    blocks = tuple(sorted(below))
    index = {b: i for i, b in enumerate(blocks)}
    unknown = sorted(({b for fact in goal_on for b in fact} | set(goal_on_table)) - set(blocks))
    if unknown:
        raise ValueError(f"goal names unknown blocks {unknown}; blocks: {list(blocks)}")
    want = [(index[u], index[v]) for u, v in goal_on] + [(index[b], -1) for b in goal_on_table]
    start = tuple(-1 if below[b] is None else index[below[b]] for b in blocks)

    def done(state: tuple) -> bool:
        return all(state[u] == v for u, v in want)

    parent: dict[tuple, tuple | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if done(state):
            moves = []
            while parent[state] is not None:
                state, move = parent[state]
                moves.append((blocks[move[0]], "table" if move[1] < 0 else blocks[move[1]]))
            return moves[::-1]
        covered = set(state) - {-1}
        clear = [i for i in range(len(blocks)) if i not in covered]
        for x in clear:
            for dest in [-1, *clear]:
                if dest == x or state[x] == dest:
                    continue
                nxt = state[:x] + (dest,) + state[x + 1:]
                if nxt not in parent:
                    parent[nxt] = (state, (x, dest))
                    queue.append(nxt)
    raise ValueError(f"no arrangement of {list(blocks)} satisfies on={list(goal_on)}, on_table={list(goal_on_table)}")


def pddl_plan(below: dict[str, str | None], moves: list[tuple[str, str]]) -> list[str]:
    """The moves as PlanBench's 4-operator PDDL actions, e.g. ``(unstack b c)``, ``(put-down b)``."""
    below = dict(below)
    out = []
    for block, dest in moves:
        out.append(f"(pick-up {block})" if below[block] is None else f"(unstack {block} {below[block]})")
        out.append(f"(put-down {block})" if dest == "table" else f"(stack {block} {dest})")
        below[block] = None if dest == "table" else dest
    return out


# ---------------------------------------------------------------- the BlockStack scene
def block_name(block: str) -> str:
    """BlockStack object name of a PDDL block: ``a`` -> ``red_cube``."""
    if block not in BLOCK_COLORS:
        raise ValueError(f"unknown block {block!r}; PlanBench Blocksworld uses {sorted(BLOCK_COLORS)}")
    return f"{BLOCK_COLORS[block]}_cube"


def scene_objects(problem: BlocksworldProblem) -> list[ObjectSpec]:
    """Equal cubes, one per block (in block order), each initial stack on its own table slot
    (``TABLE_SLOTS`` in order of the stacks' base names), cubes resting exactly on each other."""
    stacks = problem.stacks()
    if len(stacks) > len(TABLE_SLOTS):
        raise ValueError(f"{problem.name}: {len(stacks)} stacks but only {len(TABLE_SLOTS)} table slots")
    half = CUBE["half"]
    pos = {}
    for (x, y), stack in zip(TABLE_SLOTS, stacks, strict=False):
        for level, block in enumerate(stack):
            pos[block] = (x, y, half + level * (2 * half + REST_GAP) + REST_GAP)
    return [ObjectSpec(name=block_name(b), shape="cube", color=BLOCK_COLORS[b], size=(half,), mass=CUBE["mass"],
                       friction=CUBE["friction"], restitution=CUBE["restitution"], pos=pos[b], yaw=0.0)
            for b in problem.blocks]


def goal_predicates(problem: BlocksworldProblem) -> list[str]:
    """The goal as BlockStack predicate strings: ``on(red_cube, blue_cube)``."""
    return [f"on({block_name(u)}, {block_name(v)})" for u, v in problem.goal]


def instance_numbers() -> list[int]:
    """Numbers of the shipped instance files, ascending (1..500)."""
    found = sorted(int(m.group(1)) for p in (DATA_DIR / "blocksworld").glob("instance-*.pddl")
                   if (m := re.fullmatch(r"instance-(\d+)\.pddl", p.name)))
    if found != list(range(1, N_INSTANCES + 1)):
        raise ValueError(f"{DATA_DIR / 'blocksworld'} must hold instance-1..{N_INSTANCES}.pddl, found {len(found)}")
    return found


def free_table_spot(occupied: np.ndarray, radii: np.ndarray, margin: float = 0.04,
                    half_range: float = 0.18) -> tuple[float, float]:
    """The table point of a 15 x 15 grid farthest (in clearance) from every occupied footprint.

    Args:
        occupied: ``(K, 2)`` xy of objects standing on the table.
        radii: ``(K,)`` their footprint radii.
    """
    grid = np.linspace(-half_range, half_range, 15)
    gx, gy = np.meshgrid(grid, grid, indexing="ij")
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (G, 2)
    if len(occupied) == 0:
        return 0.0, 0.0
    dist = np.linalg.norm(points[:, None, :] - np.asarray(occupied)[None, :, :], axis=-1)  # (G, K)
    clearance = (dist - np.asarray(radii)[None, :]).min(axis=1)
    best = points[int(np.argmax(clearance))]
    if clearance.max() < margin:
        raise ValueError(f"no table spot with {margin} m clearance is left")
    return float(best[0]), float(best[1])
