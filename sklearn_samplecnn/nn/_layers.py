"""Named hidden layers: what SampleCNN, its inference copy and the frame-level models share."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._checks import check_int, check_real


def check_head(n_outputs, dropout) -> tuple[int, float]:
    """The output layer's arguments every model takes: a positive ``n_outputs`` and a
    ``dropout`` in [0, 1)."""
    n_outputs = check_int("n_outputs", n_outputs)
    dropout = check_real("dropout", dropout, low=0)
    if dropout >= 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
    return n_outputs, dropout


class NamedLayers:
    """Mixin for modules that list their hidden layers, bottom to top, in ``hidden_layers``,
    and take batches of ``input_length``-sample segments."""

    hidden_layers: tuple[str, ...]
    input_length: int

    def _as_input(self, x: torch.Tensor, check_length: bool = True) -> torch.Tensor:
        """``(batch, samples)`` or ``(batch, 1, samples)`` as ``(batch, 1, samples)``;
        the length must be ``input_length`` unless ``check_length`` is False."""
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[1] != 1 or (check_length and x.shape[2] != self.input_length):
            raise ValueError(
                f"{type(self).__name__} {self.name} expects input of shape "
                f"(batch, {self.input_length}) or (batch, 1, {self.input_length}), "
                f"got {tuple(x.shape)}."
            )
        return x

    def resolve_layer(self, layer: int | str) -> str:
        """A hidden layer's name from its name or index (negative counts from the top)."""
        if isinstance(layer, str):
            if layer not in self.hidden_layers:
                raise ValueError(f"layer {layer!r} is not one of {self.hidden_layers}.")
            return layer
        n = len(self.hidden_layers)
        if not -n <= int(layer) < n:
            raise ValueError(f"layer index {layer} is out of range for {n} hidden layers.")
        return self.hidden_layers[int(layer)]

    def _run_features(
        self, h: torch.Tensor, return_hidden: bool | Sequence[str]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Run ``self.features`` block by block; keep the activations asked for by name."""
        wanted = self._wanted_layers(return_hidden)
        hidden = {}
        for name, block in self.features.named_children():
            h = block(h)
            if name in wanted:
                hidden[name] = h
        return h, hidden

    def _wanted_layers(self, return_hidden: bool | Sequence[str]) -> set[str]:
        """The layer names ``forward(x, return_hidden=...)`` must return."""
        wanted = set(self.hidden_layers if return_hidden is True else return_hidden)
        unknown = wanted - set(self.hidden_layers)
        if unknown:
            raise ValueError(f"unknown hidden layers {sorted(unknown)}; have {self.hidden_layers}.")
        return wanted
