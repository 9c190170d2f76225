"""AlexNet (Krizhevsky et al. 2012), small-input variant for 8–64 pixel images.

Five convs in the paper's channel ratios 1:3:6:4:4 (64, 192, 384, 256, 256 at
width 64; width 32 by default to keep CPU runs short), kernels 5, 5, 3, 3, 3
with 'same' padding instead of the 11×11 stride-4 stem that needs 224-pixel
inputs, pools after conv 1, 2 and 5, then two hidden fully connected layers of
16·width units (1024 at width 64; the original's 4096 would be 64·width, too
large for small inputs).
"""

from __future__ import annotations

from torch import Tensor, nn

from ablate.shapes import InputShape
from ablate.models.blocks import LayerKit, pool_if_room


class AlexNet(nn.Module):
    def __init__(self, shape: InputShape, kit: LayerKit, depth: int = 5, width: int = 32) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = (width * r for r in (1, 3, 6, 4, 4))
        pool1, size = pool_if_room(kit, shape.size)
        pool2, size = pool_if_room(kit, size)
        pool3, size = pool_if_room(kit, size)
        self.features = nn.Sequential(
            kit.conv_block(shape.channels, c1, 5), pool1, kit.stage_dropout(),
            kit.conv_block(c1, c2, 5), pool2, kit.stage_dropout(),
            kit.conv_block(c2, c3, 3),
            kit.conv_block(c3, c4, 3),
            kit.conv_block(c4, c5, 3), pool3, kit.stage_dropout(),
        )
        hidden = 16 * width
        self.classifier = kit.head(c5 * size * size, (hidden, hidden), shape.classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
