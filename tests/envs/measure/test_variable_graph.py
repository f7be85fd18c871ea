"""Variable-level causal graphs from paired interventional rollouts."""

import json

import networkx as nx
import numpy as np
import pytest

from foretell.envs.measure.variable_graph import (
    graph_to_json,
    load_variable_graph,
    paired_effect,
    save_variable_graph,
    sign_test,
    variable_graph,
)

GLASS = "foretell/GlassBreak-v0"
BREAK_CAUSES = ("agent.speed", "agent.mass", "patient.fragility")


@pytest.fixture(scope="module")
def small_graph():
    return variable_graph(GLASS, [0, 1], causes=("agent.speed", "patient.fragility"))


def test_sign_test_exact_values():
    assert sign_test(np.ones(10)) == (pytest.approx(2 / 1024), 10, 0)
    assert sign_test(np.array([1.0, -1.0]))[0] == 1.0
    assert sign_test(np.array([1e-4, -1e-4, 0.0]), tie=1e-3) == (1.0, 0, 0)
    # 8 up, 2 down of 10: 2 * P(X <= 2) = 2 * (1 + 10 + 45) / 1024
    assert sign_test(np.array([1.0] * 8 + [-1.0] * 2))[0] == pytest.approx(112 / 1024, rel=1e-12)


def test_paired_effect_drops_undefined_pairs():
    effect = paired_effect(np.array([0.0, 0.0, np.nan]), np.array([1.0, 1.0, 1.0]))
    assert effect["n"] == 2 and effect["effect"] == 1 and effect["mean_difference"] == 1.0
    assert paired_effect(np.array([np.nan]), np.array([1.0]))["n"] == 0


def test_graph_is_variable_level_with_roles(small_graph):
    graph = small_graph
    assert isinstance(graph, nx.DiGraph) and graph.graph["level"] == "variable"
    assert {n for n, d in graph.nodes(data=True) if d["role"] == "cause"} == {"agent.speed", "patient.fragility"}
    assert {"contact(agent, patient)", "patient.broken", "patient.displacement"} <= set(graph.nodes)
    assert graph.nodes["patient.fragility"]["low"] < graph.nodes["patient.fragility"]["high"]
    assert graph.graph["bonferroni_tests"] == len(graph.graph["tests"]) > 0
    for _, _, data in graph.edges(data=True):
        assert data["kind"] == "interventional" and data["p_value"] < graph.graph["alpha_corrected"]


def test_json_round_trip(small_graph, tmp_path):
    path = save_variable_graph(small_graph, tmp_path / "graph.json")
    loaded = load_variable_graph(path)
    assert graph_to_json(loaded) == json.loads(json.dumps(graph_to_json(small_graph)))


def test_load_refuses_an_object_level_graph(tmp_path):
    path = tmp_path / "direct.json"
    path.write_text(json.dumps(nx.node_link_data(nx.DiGraph([("a", "b")]), edges="edges")))
    with pytest.raises(ValueError, match="not a variable-level graph"):
        load_variable_graph(path)
    with pytest.raises(ValueError, match="not a variable-level graph"):
        save_variable_graph(nx.DiGraph(), tmp_path / "x.json")


def test_deterministic_for_the_same_seeds(small_graph):
    again = variable_graph(GLASS, [0, 1], causes=("agent.speed", "patient.fragility"))
    assert json.dumps(graph_to_json(again)) == json.dumps(graph_to_json(small_graph))


def test_agent_at_rest_has_no_speed_cause():
    graph = variable_graph("foretell/Dominoes-v0", [0], causes=("agent.speed", "agent.size"))
    assert "agent.speed" not in graph and graph.nodes["agent.size"]["n"] == 1


def test_bad_requests_raise():
    with pytest.raises(ValueError, match="unknown causes"):
        variable_graph(GLASS, [0], causes=("agent.colour",))
    with pytest.raises(ValueError, match="seeds must not be empty"):
        variable_graph(GLASS, [])
    with pytest.raises(ValueError, match=r"such as range\(60\), got the int 60"):
        variable_graph(GLASS, 60)


def test_glass_breaking_responds_to_speed_and_fragility():
    graph = variable_graph(GLASS, range(10), causes=("agent.speed", "patient.fragility"))
    tests = {(t["cause"], t["outcome"]): t for t in graph.graph["tests"]}
    faster, sturdier = tests["agent.speed", "patient.broken"], tests["patient.fragility", "patient.broken"]
    assert faster["mean_difference"] > 0 and faster["n_changed"] > 0
    assert sturdier["mean_difference"] < 0 and sturdier["n_changed"] > 0


@pytest.mark.slow
def test_glass_break_edges_come_out():
    graph = variable_graph(GLASS, range(40), causes=BREAK_CAUSES)
    for cause, sign in (("agent.speed", 1), ("agent.mass", 1), ("patient.fragility", -1)):
        assert graph.has_edge(cause, "patient.broken"), cause
        assert graph.edges[cause, "patient.broken"]["effect"] == sign
    assert not graph.has_edge("patient.fragility", "contact(agent, patient)")
