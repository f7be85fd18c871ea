"""foretell.causal: video+text encoders, causal-graph learners, baselines and graph metrics.

Not built yet: a later issue fills this package (see DESIGN.md, causal contract).
"""
