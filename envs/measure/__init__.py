"""What runs envs to measure them: the top layer of ``foretell.envs``; nothing below imports it.

``episodes`` (run one episode with a policy; expert and scenario evaluations), ``qa``
(CLEVRER-style questions answered by simulation), ``variable_graph`` (variable-level causal
graphs from paired interventional rollouts) and ``first_frame`` (how much a still frame gives
away). A new evaluation of the envs themselves goes here.
"""
