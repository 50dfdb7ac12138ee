"""Data-mixture optimisation: offline `propose/recommend` and online `observe` methods."""

from infomix.mixing.stratified import StratifiedMixing, latin_hypercube_simplex
from infomix.mixing.trial import Trial, check_mixture

__all__ = ["StratifiedMixing", "Trial", "check_mixture", "latin_hypercube_simplex"]
