"""The architectures of the studies; input channels, image size and classes come from the data."""

from collections.abc import Sequence

from torch import Tensor, nn


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class PoolTo(nn.AdaptiveAvgPool2d):
    """AdaptiveAvgPool2d that passes a map already of its output size through: the same values (each an average of
    one element) without the pool's kernels, whose backward alone took 4% of small_cnn's training step on a CPU."""

    def forward(self, x: Tensor) -> Tensor:
        return x if tuple(x.shape[-2:]) == (self.output_size,) * 2 else super().forward(x)


class SmallCNN(nn.Sequential):
    """A plain CNN: per block conv-BN-ReLU then 2x2 max-pool; the last 4x4 feature map flattened into a linear head.

    The head keeps where in the image a feature fired. A global average pool there throws that away and
    cost 13-14 points of test accuracy on the CIFAR-10 subset (the pytorch-cifar recipe, 15 epochs: 51%
    with the pool, 65% flattened, 64% for the same blocks through the standard torchvision pipeline).
    PoolTo(4) (an AdaptiveAvgPool2d) passes the 4x4 map of a 32x32 image after three blocks through, and fixes
    the head's size for other inputs (Fashion-MNIST's 28x28 gives 3x3), as torchvision's VGG does.

    Each block applies the max-pool before the ReLU: the same function and the same gradients (ReLU is
    monotonic, and a window whose max is <= 0 passes no gradient either way), with the ReLU on a quarter
    of the elements: ~8% faster training steps on CPU. Small enough that an epoch of the CIFAR-10 subset
    takes seconds on two CPU cores.
    """

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (32, 64, 128)):
        layers: list[nn.Module] = []
        c = in_channels
        for width in widths:
            conv, bn, relu = conv_bn_relu(c, width)
            layers += [conv, bn, nn.MaxPool2d(2), relu]
            c = width
        grid = 4  # the feature map of a 32x32 image after three 2x2 pools
        super().__init__(*layers, PoolTo(grid), nn.Flatten(), nn.Linear(c * grid * grid, num_classes))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with a projection shortcut when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(*conv_bn_relu(c_in, c_out, stride),
                                  nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet18(nn.Sequential):
    """ResNet-18 in its CIFAR form (He et al. 2016; the layout of kuangliu/pytorch-cifar):
    3x3 stem without max-pool, four stages of two basic blocks, widths 64-128-256-512."""

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (64, 128, 256, 512)):
        layers: list[nn.Module] = conv_bn_relu(in_channels, widths[0])
        c = widths[0]
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock(c, width, stride), BasicBlock(width, width, 1)]
            c = width
        super().__init__(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class MLP(nn.Sequential):
    """A fully connected network on the flattened image: Linear-activation per hidden width, a linear head.

    No normalisation layer, so the loss is not invariant to the scale of any weight and the stability
    edge of the step size is a property of the weights (Cohen et al. use tanh, widths 200-200)."""

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (200, 200),
                 activation: str = "tanh", image_size: int = 32):
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * image_size * image_size
        for hidden in widths:
            layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
            width = hidden
        super().__init__(*layers, nn.Linear(width, num_classes))
