"""The BlockStack family: stacking with skills (``env``) or end-effector deltas (``low_level``).

``skills`` (pick_place, push and the skill schema planners emit), ``goals`` (predicates,
feasibility, instructions) and ``expert`` (the privileged planners that make datasets).
"""
