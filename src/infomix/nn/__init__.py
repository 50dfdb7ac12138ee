"""Small shared model pieces built on the ops: the tiny causal LM used for proxy training."""

from infomix.nn.tiny_lm import TinyLM, TinyLMConfig

__all__ = ["TinyLM", "TinyLMConfig"]
