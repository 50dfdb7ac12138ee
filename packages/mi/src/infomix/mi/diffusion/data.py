"""Data for the trained denoisers: scikit-learn's 8×8 digits scaled to [−1, 1] (bundled, no download)."""

from __future__ import annotations

import torch


def digits(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The 1,797 8×8 digit images of scikit-learn as [1797, 64] in [−1, 1] (pixel/8 − 1)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the digits data needs scikit-learn: pip install 'infomix-mi[diffusion]'") from None
    return torch.as_tensor(load_digits().data, dtype=dtype) / 8.0 - 1.0
