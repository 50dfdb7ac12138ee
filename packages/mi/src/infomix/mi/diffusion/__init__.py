"""Diffusion models as information channels: schedules, grids, denoisers, ODE samplers (EVODiff) and MINDE."""

from infomix.mi.diffusion.denoisers import CountingDenoiser, Denoiser, PerturbedDenoiser
from infomix.mi.diffusion.gmm import GaussianMixture, GMMDenoiser, four_mode_mixture, random_mixture
from infomix.mi.diffusion.grids import GRIDS, time_grid
from infomix.mi.diffusion.metrics import frechet_distance, sliced_wasserstein, trajectory_error
from infomix.mi.diffusion.reference import reference_solve
from infomix.mi.diffusion.samplers import (
    SAMPLERS,
    DDIMSampler,
    DPMSolverPP2MSampler,
    EVODiffSampler,
    UniPCSampler,
    make_sampler,
)
from infomix.mi.diffusion.schedules import SCHEDULES, EDMSchedule, NoiseSchedule, VPSchedule, make_schedule

__all__ = [
    "GRIDS",
    "SAMPLERS",
    "SCHEDULES",
    "CountingDenoiser",
    "DDIMSampler",
    "DPMSolverPP2MSampler",
    "Denoiser",
    "EDMSchedule",
    "EVODiffSampler",
    "GMMDenoiser",
    "GaussianMixture",
    "NoiseSchedule",
    "PerturbedDenoiser",
    "UniPCSampler",
    "VPSchedule",
    "four_mode_mixture",
    "frechet_distance",
    "make_sampler",
    "make_schedule",
    "random_mixture",
    "reference_solve",
    "sliced_wasserstein",
    "time_grid",
    "trajectory_error",
]
