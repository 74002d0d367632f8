"""The pieces of SimCLR-style contrastive training: projection head and NT-Xent loss.

torch only. An encoder (a SampleCNN) maps each augmented view to its last
hidden layer ``h``; :class:`ProjectionHead` maps ``h`` to ``z``;
:func:`nt_xent_loss` asks each ``z`` to pick its partner view out of the
batch (Chen et al. 2020; CLMR, Spijkervet and Burgoyne 2021). Downstream
features come from the encoder, not from ``z``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NTXentLoss", "ProjectionHead", "nt_xent_loss"]


class ProjectionHead(nn.Sequential):
    """Linear -> ReLU -> Linear, without biases (SimCLR's and CLMR's head).

    Parameters
    ----------
    in_features : int
        Width of the encoder's last hidden layer.
    out_features : int, default=64
        Dimension of the projection the loss compares (CLMR: 64).
    hidden_features : int or None, default=None
        Width of the hidden layer; ``None`` means ``in_features``.
    """

    def __init__(self, in_features: int, out_features: int = 64,
                 hidden_features: int | None = None) -> None:
        hidden = int(in_features if hidden_features is None else hidden_features)
        super().__init__(nn.Linear(int(in_features), hidden, bias=False), nn.ReLU(),
                         nn.Linear(hidden, int(out_features), bias=False))


def nt_xent_loss(z: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """Normalised-temperature cross-entropy over a batch of view pairs.

    Parameters
    ----------
    z : Tensor of shape (2 * n, dim)
        Projections of the first views of ``n`` clips, then of their second
        views, in the same clip order: ``z[i]`` and ``z[i + n]`` are a pair.
    temperature : float, default=0.5
        Divides the cosine similarities (CLMR: 0.5).

    Returns
    -------
    Tensor
        The mean over all ``2n`` anchors of ``-log(exp(s_pos / t) / sum over
        the 2n - 1 others of exp(s / t))``.
    """
    if z.dim() != 2 or z.shape[0] % 2 or z.shape[0] < 2:
        raise ValueError(f"z must have shape (2 * n, dim) with n >= 1, got {tuple(z.shape)}.")
    n = z.shape[0] // 2
    z = F.normalize(z.float(), dim=1)
    logits = z @ z.T / float(temperature)
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device),
                                float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, partner)


class NTXentLoss(nn.Module):
    """:func:`nt_xent_loss` as a module (a skorch criterion).

    Parameters
    ----------
    temperature : float, default=0.5
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        if not float(temperature) > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}.")
        self.temperature = float(temperature)

    def forward(self, z: torch.Tensor, target=None) -> torch.Tensor:
        return nt_xent_loss(z, self.temperature)
