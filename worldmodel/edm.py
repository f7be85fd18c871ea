"""The EDM schedulers both diffusion world models train and sample with (diffusers').

``EDMSchedulers`` is a mixin for a ``ConfigMixin`` model whose config holds EDM's noise
parameters (``sigma_min``, ``sigma_max``, ``sigma_data``, ``rho``): ``make_scheduler`` builds the
sampler, and ``_training_scheduler`` the (cached) Euler scheduler whose preconditioning the
training loss uses, so that training and sampling share one definition.
"""

from __future__ import annotations

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
