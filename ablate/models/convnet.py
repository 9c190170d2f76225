"""VGG-style stack (Simonyan & Zisserman 2015): `depth` conv blocks in up to
three stages, channels `width`, 2·width, 4·width, a 2×2 pool closing each stage,
then two fully connected layers."""

from __future__ import annotations

from torch import Tensor, nn

from ablate.shapes import InputShape
from ablate.models.blocks import LayerKit, pool_if_room


class ConvNet(nn.Module):
    def __init__(self, shape: InputShape, kit: LayerKit, depth: int = 4, width: int = 32) -> None:
        super().__init__()
        stages = min(depth, 3)
        layers: list[nn.Module] = []
        cin, size = shape.channels, shape.size
        for i in range(depth):
            stage = i * stages // depth
            cout = width * 2**stage
            layers.append(kit.conv_block(cin, cout))
            cin = cout
            if i == depth - 1 or (i + 1) * stages // depth != stage:  # last block of a stage
                pool, size = pool_if_room(kit, size)
                layers += [pool, kit.stage_dropout()]
        self.features = nn.Sequential(*layers)
        self.classifier = kit.head(cin * size * size, (2 * cin,), shape.classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
