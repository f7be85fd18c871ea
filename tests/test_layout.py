"""The package layout is the architecture: folders import only downwards and modules form no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"foretell": "foretell", "foretell.envs": "envs", "foretell.data": "data", "foretell.causal": "causal",
            "foretell.worldmodel": "worldmodel", "foretell.planners": "planners"}

# Each envs folder may import from the folders listed (and from itself); anything else is a layering error.
ENVS_LAYERS = {
    "sim": set(),
    "blockstack": {"sim"},
    "scenarios": {"sim"},
    "puzzles": {"sim"},
    "measure": {"sim", "blockstack", "scenarios", "puzzles", "registry"},
    "registry": set(),
}
# The packages' dependency direction (DESIGN.md): envs <- data <- causal, worldmodel <- planners <- foretell.
# foretell.runtime and foretell.metrics sit below them all (they import no package of the project).
BASE = {"foretell.runtime", "foretell.metrics"}
PACKAGE_DEPS = {
    "foretell.runtime": set(),
    "foretell.metrics": set(),
    "foretell.envs": BASE,
    "foretell.data": {"foretell.envs", *BASE},
    "foretell.causal": {"foretell.envs", "foretell.data", *BASE},
    "foretell.worldmodel": {"foretell.envs", "foretell.data", *BASE},
    "foretell.planners": {"foretell.envs", "foretell.data", "foretell.causal", "foretell.worldmodel", *BASE},
}


def _modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module the project installs."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Project modules that ``name`` imports (absolute or relative, at any depth in the file)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # `from pkg import module` imports the module (pkg is already initialising); `from pkg
            # import name` imports pkg itself
            targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES else stem for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


GRAPH = nx.DiGraph()
GRAPH.add_nodes_from(MODULES)
GRAPH.add_edges_from((m, t) for m, p in MODULES.items() for t in _imports(m, p))


def test_no_import_cycles_between_modules():
    cycles = list(nx.simple_cycles(GRAPH))
    assert not cycles, f"import cycles: {cycles[:5]}"


def _envs_folder(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["foretell", "envs"] or len(parts) < 3:
        return None
    return parts[2]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _envs_folder(m)))
def test_envs_folders_import_only_downwards(module):
    folder = _envs_folder(module)
    allowed = ENVS_LAYERS[folder] | {folder}
    bad = sorted(t for t in GRAPH.successors(module) if _envs_folder(t) and _envs_folder(t) not in allowed)
    assert not bad, f"{module} ({folder}/) imports {bad}; {folder}/ may use only {sorted(allowed)}"


@pytest.mark.parametrize("package", sorted(PACKAGE_DEPS))
def test_packages_follow_the_dependency_direction(package):
    allowed = PACKAGE_DEPS[package] | {package}
    bad = sorted({t for m in MODULES if m == package or m.startswith(package + ".") for t in GRAPH.successors(m)
                  if not any(t == a or t.startswith(a + ".") for a in allowed)})
    assert not bad, f"{package} imports {bad}"


def test_every_envs_module_is_in_a_layer():
    top_level = {p.stem for p in (ROOT / "envs").glob("*.py")} - {"__init__"}
    folders = {p.name for p in (ROOT / "envs").iterdir() if (p / "__init__.py").exists()}
    assert top_level | folders == set(ENVS_LAYERS), "a new envs module or folder needs its layer in ENVS_LAYERS"
