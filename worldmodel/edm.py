"""What both diffusion world models share: diffusers' EDM schedulers, and normalisation
statistics that live in the config.

``EDMSchedulers`` is a mixin for a ``ConfigMixin`` model whose config holds EDM's noise
parameters (``sigma_min``, ``sigma_max``, ``sigma_data``, ``rho``): ``make_scheduler`` builds the
sampler, and ``_training_scheduler`` the (cached) Euler scheduler whose preconditioning the
training loss uses, so that training and sampling share one definition.
"""

from __future__ import annotations

import torch
from diffusers import EDMDPMSolverMultistepScheduler, EDMEulerScheduler

SAMPLERS = ("euler", "dpmsolver")


class EDMSchedulers:
    def make_scheduler(self, sampler: str = "euler") -> EDMEulerScheduler | EDMDPMSolverMultistepScheduler:
        """The diffusers EDM scheduler (``euler`` or ``dpmsolver``) with this model's noise parameters."""
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; valid: {list(SAMPLERS)}")
        cfg = self.config
        kwargs = {"sigma_min": cfg.sigma_min, "sigma_max": cfg.sigma_max, "sigma_data": cfg.sigma_data,
                  "rho": cfg.rho, "num_train_timesteps": 1000}
        if sampler == "euler":
            return EDMEulerScheduler(**kwargs)
        return EDMDPMSolverMultistepScheduler(**kwargs, solver_order=2)

    def _training_scheduler(self) -> EDMEulerScheduler:
        if getattr(self, "_scheduler_cache", None) is None:
            self._scheduler_cache = self.make_scheduler("euler")
        return self._scheduler_cache


def register_stats(module: torch.nn.Module, stats: dict | None, sizes: dict[str, int]) -> None:
    """Register ``stats`` (``{name}_mean`` / ``{name}_std`` lists, ``sizes[name]`` long; missing
    ones: identity) as non-persistent buffers ``_{name}_{mean|std}``: they follow ``.to(device)``,
    and the config, not the weights file, is where they are stored. Raises ``ValueError`` for an
    unknown name, a wrong length or a std that is not positive."""
    stats = stats or {}
    unknown = sorted(set(stats) - {f"{n}_{m}" for n in sizes for m in ("mean", "std")})
    if unknown:
        raise ValueError(f"unknown statistics {unknown}; valid: <{'|'.join(sizes)}>_mean|std")
    for name, size in sizes.items():
        for moment, default in (("mean", 0.0), ("std", 1.0)):
            value = torch.tensor(stats.get(f"{name}_{moment}", [default] * size), dtype=torch.float32)
            if value.shape != (size,):
                raise ValueError(f"statistic {name}_{moment} has {value.numel()} values; this config needs {size}")
            if moment == "std" and not bool((value > 0).all()):
                raise ValueError(f"statistic {name}_std must be > 0 everywhere")
            module.register_buffer(f"_{name}_{moment}", value, persistent=False)
