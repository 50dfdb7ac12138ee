"""Input normalisation of the learned estimator: normal scores of the ranks, and their Gaussian MI."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from infomix.mi.copula import copula_normalize


def normal_scores(array: np.ndarray) -> np.ndarray:
    """Each column replaced by Φ⁻¹(rank / (n + 1)) (ties share their average rank), as float32.

    MI is unchanged by a strictly increasing map of any coordinate, and so are ranks: the network sees
    every such version of a sample identically (exact invariance), and its inputs always have standard
    normal margins, whatever the tails of the data.
    """
    return copula_normalize(array).astype(np.float32)


def gaussian_mi_of_scores(zx: Tensor, zy: Tensor) -> Tensor:
    """½·(log det C_xx + log det C_yy − log det C) of the sample correlation C of [z_x, z_y], per batch item."""
    z = torch.cat([zx, zy], dim=2).double()
    z = z - z.mean(dim=1, keepdim=True)
    cov = z.transpose(1, 2) @ z / z.shape[1]
    std = cov.diagonal(dim1=1, dim2=2).clamp_min(1e-12).sqrt()
    corr = cov / (std[:, :, None] * std[:, None, :])
    eye = torch.eye(corr.shape[1], dtype=corr.dtype, device=corr.device)
    corr = corr + 1e-6 * eye
    dx = zx.shape[2]
    logdet = torch.linalg.slogdet
    mi = 0.5 * (logdet(corr[:, :dx, :dx])[1] + logdet(corr[:, dx:, dx:])[1] - logdet(corr)[1])
    return mi.clamp_min(0.0).to(zx.dtype)
