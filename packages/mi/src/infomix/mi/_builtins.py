"""The built-in plugin modules of infomix-mi, each also an entry point in group `infomix`."""

DEFAULT_PLUGINS = (
    "infomix.mi.gaussian",
    "infomix.mi.copula",
    "infomix.mi.tcopula",
    "infomix.mi.histogram",
    "infomix.mi.discrete",
    "infomix.mi.ksg",
    "infomix.mi.mixed",
    "infomix.mi.neural",
    "infomix.mi.tasks",
    "infomix.mi.cli",
    "infomix.mi.diffusion.samplers",
    "infomix.mi.diffusion.minde",
    "infomix.mi.representation.critics",
    "infomix.mi.learned.estimator",
    "infomix.mi.learned.commands",
)
