"""LeNet-5 (LeCun et al. 1998), adapted to any input size.

Both convs use 'same' padding (the original's second conv had none) so the
network also fits 8×8 digits: 8 → 4 → 2 pixels, versus 28 → 14 → 7 on MNIST.
Channels 6 and 16, fully connected 120 and 84, as in the paper.
"""

from __future__ import annotations

from torch import Tensor, nn

from ablate.shapes import InputShape
from ablate.models.blocks import LayerKit, pool_if_room


class LeNet5(nn.Module):
    def __init__(self, shape: InputShape, kit: LayerKit, depth: int = 2, width: int = 6) -> None:
        super().__init__()
        pool1, size = pool_if_room(kit, shape.size)
        pool2, size = pool_if_room(kit, size)
        self.features = nn.Sequential(
            kit.conv_block(shape.channels, 6, 5), pool1, kit.stage_dropout(),
            kit.conv_block(6, 16, 5), pool2, kit.stage_dropout(),
        )
        self.classifier = kit.head(16 * size * size, (120, 84), shape.classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
