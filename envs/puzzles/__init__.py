"""PHYRE-like physics puzzles: one continuous action per attempt, scored by AUCCESS.

``core`` (templates, goals, the attempt simulation), ``env`` (``PuzzleEnv``), one file per family
(``launch``, ``topple``, ``drop``), ``tasks`` (the stored, verified-solvable task set) and
``benchmark`` (puzzles-v0: task loading, AUCCESS, the random agent). A new puzzle family is one
file here with a ``FAMILY`` and a ``PuzzleEnv`` subclass, registered in ``foretell.envs``.
"""
