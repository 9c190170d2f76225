"""The building blocks every model shares, fed with resolved callables.

`LayerKit` is the one object a model receives: the norm, activation, pooling and
dropout choices already turned into constructors, so model code never sees a
string or a config (timm's `norm_layer=`/`act_layer=` pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ablate.layers.dropout import DropoutKind
from ablate.layers.init import mark_output


@dataclass(frozen=True)
class LayerKit:
    norm: Callable[[int], nn.Module]
    norm_first: bool  # True: conv → norm → act; False: conv → act → norm
    act: Callable[[], nn.Module]
    pool: Callable[[], nn.Module]
    global_pool: Callable[[], nn.Module]
    dropout: DropoutKind
    p: float
    # The dropout level's own options (dropconnect's mask), for its fully connected layers.
    dropout_options: Mapping[str, Any] = field(default_factory=dict)

    def conv_block(self, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> "ConvBlock":
        return ConvBlock(cin, cout, kernel, stride, self)

    def stage_dropout(self) -> nn.Module:
        return self.dropout.stage(self.p)

    def head(self, in_features: int, hidden: tuple[int, ...], classes: int) -> nn.Sequential:
        """Flatten → (dropout → linear → act) per hidden width → dropout → output linear.

        Dropout sits in front of every fully connected layer, the output layer
        included, as in Srivastava et al. (2014).
        """
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [self.dropout.head(self.p), self.dropout.linear(width, h, self.p, **self.dropout_options),
                       self.act()]
            width = h
        output = self.dropout.output(width, classes, self.p, **self.dropout_options)
        layers += [self.dropout.head(self.p), mark_output(output)]
        return nn.Sequential(*layers)


class ConvBlock(nn.Sequential):
    """conv → norm → act, or conv → act → norm; 'same' padding."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, kit: LayerKit) -> None:
        conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)
        if kit.norm_first:
            super().__init__(conv, kit.norm(cout), kit.act())
        else:
            super().__init__(conv, kit.act(), kit.norm(cout))


def pool_if_room(kit: LayerKit, size: int) -> tuple[nn.Module, int]:
    """A 2×2 pool, unless the map is already 1 pixel wide (small inputs like 8×8 digits)."""
    if size >= 2:
        return kit.pool(), size // 2
    return nn.Identity(), size
