"""The one MLP-tower builder shared by MLP, NeuMF, J-NCF, the two-tower model and the autoencoders.

He et al. (2017) and Chen et al. (2019) stack fully connected ReLU layers (a "tower"); Liang et al.
(2018) stack tanh layers. Keeping the construction in one place means every family gets the same
layer order, dropout placement and initialisation, and NeuMF can copy a trained MLP's tower
parameter for parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def mlp_tower(
    sizes: Sequence[int],
    dropout: float = 0.0,
    activate_last: bool = True,
    activation: type[torch.nn.Module] = torch.nn.ReLU,
    batch_norm: bool = False,
) -> torch.nn.Sequential:
    """Linear layers `sizes[0] -> sizes[1] -> ... -> sizes[-1]`, each followed by `activation` (the
    last one only with `activate_last`), with dropout before every linear layer after the first and,
    with `batch_norm`, batch normalisation before every activation.

    Dropout sits between layers rather than on the input so an embedding lookup feeding the tower is
    never zeroed wholesale; Xavier-uniform weights match the NCF reference implementation.
    """
    if len(sizes) < 2:
        raise ValueError(f"a tower needs an input and at least one layer size, got {list(sizes)}")
    layers: list[torch.nn.Module] = []
    for position, (width_in, width_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if position > 0 and dropout > 0:
            layers.append(torch.nn.Dropout(dropout))
        linear = torch.nn.Linear(width_in, width_out)
        torch.nn.init.xavier_uniform_(linear.weight)
        torch.nn.init.zeros_(linear.bias)
        layers.append(linear)
        if position < len(sizes) - 2 or activate_last:
            if batch_norm:
                layers.append(torch.nn.BatchNorm1d(width_out))
            layers.append(activation())
    return torch.nn.Sequential(*layers)
