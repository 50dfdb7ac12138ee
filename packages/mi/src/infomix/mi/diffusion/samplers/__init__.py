"""Probability-flow ODE samplers as `mi.diffusion.sampler` components: DDIM, DPM-Solver++(2M), UniPC-bh2, EVODiff."""

from __future__ import annotations

from typing import Any

from infomix.core.hookspecs import hookimpl
from infomix.mi.diffusion.samplers.base import Grid, Sampler
from infomix.mi.diffusion.samplers.ddim import DDIMSampler
from infomix.mi.diffusion.samplers.dpm_solver import DPMSolverPP2MSampler
from infomix.mi.diffusion.samplers.evodiff import EVODiffSampler
from infomix.mi.diffusion.samplers.unipc import UniPCSampler

SAMPLERS: dict[str, type[Sampler]] = {
    cls.name: cls for cls in (DDIMSampler, DPMSolverPP2MSampler, UniPCSampler, EVODiffSampler)
}


def make_sampler(name: str, **params: Any) -> Sampler:
    """A sampler by its registered name, built with `params`."""
    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")
    return SAMPLERS[name](**params)


@hookimpl
def register_components(register: Any) -> None:
    register("mi.diffusion.sampler", "ddim", DDIMSampler, summary="DDIM: first-order data-prediction ODE step")
    register("mi.diffusion.sampler", "dpm-solver++2m", DPMSolverPP2MSampler, summary="DPM-Solver++(2M) multistep")
    register("mi.diffusion.sampler", "unipc-bh2", UniPCSampler, summary="UniPC-bh2 predictor-corrector, order 2")
    register("mi.diffusion.sampler", "evodiff", EVODiffSampler, summary="EVODiff variance-optimised multistep")


__all__ = [
    "SAMPLERS",
    "DDIMSampler",
    "DPMSolverPP2MSampler",
    "EVODiffSampler",
    "Grid",
    "Sampler",
    "UniPCSampler",
    "make_sampler",
]
