"""CIFAR-style ResNet (He et al. 2016, section 4.2): depth = 6n + 2.

A 3×3 stem, three stages of n basic blocks at width, 2·width, 4·width channels
(16, 32, 64 by default), downsampling by stride-2 convs, then a global pool
(`model.pool` picks max or avg) and one linear layer. Projection shortcuts
(1×1 conv + norm, the paper's option B) where the shape changes; the paper's
CIFAR nets use option A (zero-padded identity, no parameters): ResNet-20 with
batch norm has 273,258 parameters here, 0.27M in the paper.

`residual=False` builds the paper's plain counterpart (Fig. 6 left): the same
convs, norms and activations with every shortcut, projections included, left
out, so depth with and without residuals is one switch (`model.residual`).
"""

from __future__ import annotations

from torch import Tensor, nn

from ablate.shapes import InputShape
from ablate.models.blocks import LayerKit


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, kit: LayerKit, residual: bool = True) -> None:
        super().__init__()
        self.block1 = kit.conv_block(cin, cout, 3, stride)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm2 = kit.norm(cout)
        self.act = kit.act()
        self.norm_first = kit.norm_first
        self.residual = residual
        self.shortcut: nn.Module = nn.Identity()
        if residual and (stride != 1 or cin != cout):
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride), kit.norm(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.block1(x))
        skip = self.shortcut(x) if self.residual else 0.0
        if self.norm_first:
            return self.act(self.norm2(out) + skip)
        return self.norm2(self.act(out + skip))


class ResNet(nn.Module):
    def __init__(self, shape: InputShape, kit: LayerKit, depth: int = 20, width: int = 16,
                 residual: bool = True) -> None:
        super().__init__()
        n = (depth - 2) // 6
        layers: list[nn.Module] = [kit.conv_block(shape.channels, width)]
        cin, size = width, shape.size
        for stage in range(3):
            cout = width * 2**stage
            for b in range(n):
                # Halve the map at the start of stages 2 and 3, while it is > 1 pixel.
                stride = 2 if stage > 0 and b == 0 and size > 1 else 1
                size = (size + 1) // stride if stride == 2 else size
                layers.append(BasicBlock(cin, cout, stride, kit, residual))
                cin = cout
            layers.append(kit.stage_dropout())
        self.features = nn.Sequential(*layers, kit.global_pool())
        self.classifier = kit.head(cin, (), shape.classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
