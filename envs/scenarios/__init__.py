"""Passive scenarios: ``base.ScenarioEnv`` and one file per family (red agent, yellow patient).

A new scenario is one file here that subclasses ``ScenarioEnv`` and implements ``sample_scene``;
register it in ``foretell.envs`` (``_ENTRY_POINTS``, ``ENV_DESCRIPTIONS``, ``SCENARIO_IDS``).
"""
