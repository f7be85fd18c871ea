"""foretell: world models and causal reasoning on simulated physics.

The application package: the ``foretell`` CLI and app-level helpers (seeding, devices,
atomic writes, run directories). The science lives in the subpackages
``foretell.envs``, ``foretell.data``, ``foretell.causal``, ``foretell.worldmodel`` and
``foretell.planners``.
"""

__version__ = "0.1.0"
