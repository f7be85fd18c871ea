"""foretell.planners: LLM backends, the planner loop, baselines and the planning benchmark.

Not built yet: a later issue fills this package (see DESIGN.md, planners contract). The
privileged scripted expert for BlockStack lives in ``foretell.envs.blockstack.expert`` because dataset
generation (``foretell.data``) needs it and may not import planners.
"""
