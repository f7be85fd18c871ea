"""foretell.worldmodel: diffusion world models, rollouts and prediction metrics.

Not built yet: a later issue fills this package (see DESIGN.md, worldmodel contract).
"""
