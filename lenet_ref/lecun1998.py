"""LeNet-5 as published (LeCun, Bottou, Bengio, Haffner 1998): the network and its special layers.

:class:`LeNet1998` is the whole network, with its own loss. What tutorials usually drop, each as
a small ``nn.Module`` or function:

- :func:`squash`: the scaled tanh f(a) = 1.7159 tanh(2a/3), so that f(1) = 1 and f(-1) = -1;
- :class:`Subsampling`: S2/S4, the sum of each 2x2 block times one trainable coefficient plus one
  trainable bias per map, then squashed (2 parameters per map);
- :class:`PartialConv2d`: C3, a 5x5 convolution in which each output map sees only the input maps
  that Table I of the paper lists (:data:`C3_TABLE`), 1,516 parameters instead of 2,416;
- :class:`RBFOutput`: the Euclidean RBF output units with fixed +1/-1 codes drawn as 7x12 bitmaps
  of the digits (:data:`DIGIT_BITMAPS`);
- :func:`map_loss`: the MAP criterion with the e^-j term.

Source: "Gradient-Based Learning Applied to Document Recognition", Proc. IEEE 86(11), 1998,
doi 10.1109/5.726791, section II-B and Table I.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lenet_ref.transforms import check_input_shape

#: Amplitude A and slope S of the squashing function f(a) = A tanh(S a).
SQUASH_A = 1.7159
SQUASH_S = 2.0 / 3.0

#: The constant j of the MAP loss. The paper leaves its value open; the term e^-j caps how much
#: the loss keeps pushing up penalties y_i that are already large.
MAP_J = 1.0

#: Table I of the paper, 0-based: the S2 maps that each of the 16 C3 maps is connected to.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip

# The ten output codes, drawn 7 wide x 12 high: "#" is +1, "." is -1 (the paper's Fig. 3 shows
# similar stylized characters; these were drawn for this course).
_ROWS_0_TO_4 = (
    # 0          1          2          3          4
    ("..###..", "...#...", "..###..", ".#####.", "....##."),
    (".#...#.", "..##...", ".#...#.", "#.....#", "...#.#."),
    ("#.....#", ".#.#...", "#.....#", "......#", "..#..#."),
    ("#.....#", "...#...", "......#", "......#", ".#...#."),
    ("#.....#", "...#...", ".....#.", ".....#.", "#....#."),
    ("#.....#", "...#...", "....#..", "..###..", "#....#."),
    ("#.....#", "...#...", "...#...", ".....#.", "#######"),
    ("#.....#", "...#...", "..#....", "......#", ".....#."),
    ("#.....#", "...#...", ".#.....", "......#", ".....#."),
    ("#.....#", "...#...", "#......", "......#", ".....#."),
    (".#...#.", "...#...", "#......", "#.....#", ".....#."),
    ("..###..", ".#####.", "#######", ".#####.", ".....#."),
)  # fmt: skip
_ROWS_5_TO_9 = (
    # 5          6          7          8          9
    ("#######", "..####.", "#######", "..###..", "..###.."),
    ("#......", ".#.....", "......#", ".#...#.", ".#...#."),
    ("#......", "#......", "......#", "#.....#", "#.....#"),
    ("#......", "#......", ".....#.", "#.....#", "#.....#"),
    ("######.", "#.###..", ".....#.", ".#...#.", "#.....#"),
    ("......#", "##...#.", "....#..", "..###..", ".#...##"),
    ("......#", "#.....#", "....#..", ".#...#.", "..###.#"),
    ("......#", "#.....#", "...#...", "#.....#", "......#"),
    ("......#", "#.....#", "...#...", "#.....#", "......#"),
    ("......#", "#.....#", "..#....", "#.....#", ".....#."),
    ("#.....#", ".#...#.", "..#....", ".#...#.", "....#.."),
    (".#####.", "..###..", "..#....", "..###..", ".###..."),
)  # fmt: skip

#: DIGIT_BITMAPS[d] is the 12-row picture of digit d, each row a string of 7 characters.
DIGIT_BITMAPS: tuple[tuple[str, ...], ...] = tuple(
    tuple(row[d] for row in rows) for rows in (_ROWS_0_TO_4, _ROWS_5_TO_9) for d in range(5)
)


def rbf_codes(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The ten fixed RBF centres: (10, 84) of +1/-1, row d = DIGIT_BITMAPS[d] read row by row."""
    codes = [[1.0 if ch == "#" else -1.0 for ch in "".join(bitmap)] for bitmap in DIGIT_BITMAPS]
    return torch.tensor(codes, dtype=dtype)


def squash(a: torch.Tensor) -> torch.Tensor:
    """The paper's sigmoid: f(a) = 1.7159 tanh(2a/3); any shape -> same shape."""
    return SQUASH_A * torch.tanh(SQUASH_S * a)


def lecun_uniform_(tensor: torch.Tensor, fan_in: int) -> torch.Tensor:
    """Fill ``tensor`` in place with U(-2.4 / fan_in, 2.4 / fan_in), the paper's initialisation."""
    bound = 2.4 / fan_in
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)


class Subsampling(nn.Module):
    """S2/S4: squash(coefficient * (sum of each 2x2 block) + bias), per map.

    Input (N, C, H, W) -> output (N, C, H/2, W/2). Trainable: ``weight`` (C,), ``bias`` (C,).
    """

    def __init__(self, maps: int) -> None:
        super().__init__()
        self.maps = maps
        self.weight = nn.Parameter(torch.empty(maps))
        self.bias = nn.Parameter(torch.empty(maps))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        lecun_uniform_(self.weight, fan_in=4)
        lecun_uniform_(self.bias, fan_in=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block_sum = 4.0 * F.avg_pool2d(x, 2)
        return squash(block_sum * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1))

    def extra_repr(self) -> str:
        return f"maps={self.maps}, 2x2 sum, trainable coefficient and bias per map, squash"


class PartialConv2d(nn.Module):
    """A convolution in which output map o sees only the input maps ``table[o]`` (C3).

    Input (N, C_in, H, W) -> output (N, C_out, H - k + 1, W - k + 1). Trainable: ``weight``
    (connections, k, k), one k x k kernel per connected (output, input) pair in table order, and
    ``bias`` (C_out,). Unconnected pairs have no parameter at all, so they cannot learn: the
    dense kernel (:meth:`dense_weight`) is exactly zero there, always.
    """

    def __init__(self, in_maps: int, table: tuple[tuple[int, ...], ...], kernel_size: int) -> None:
        super().__init__()
        for o, inputs in enumerate(table):
            bad = [i for i in inputs if not 0 <= i < in_maps]
            if bad or len(set(inputs)) != len(inputs) or not inputs:
                raise ValueError(
                    f"table[{o}] = {inputs} must list distinct input maps in 0..{in_maps - 1}."
                )
        self.in_maps = in_maps
        self.out_maps = len(table)
        self.kernel_size = kernel_size
        self.table = tuple(tuple(inputs) for inputs in table)
        pairs = [(o, i) for o, inputs in enumerate(self.table) for i in inputs]
        self.register_buffer(
            "out_index", torch.tensor([o for o, _ in pairs], dtype=torch.long), persistent=False
        )
        self.register_buffer(
            "in_index", torch.tensor([i for _, i in pairs], dtype=torch.long), persistent=False
        )
        self.weight = nn.Parameter(torch.empty(len(pairs), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(self.out_maps))
        self.reset_parameters()

    def connection_mask(self) -> torch.Tensor:
        """(C_out, C_in) bool: True where output map o is connected to input map i."""
        mask = torch.zeros(self.out_maps, self.in_maps, dtype=torch.bool)
        mask[self.out_index.cpu(), self.in_index.cpu()] = True
        return mask

    def reset_parameters(self) -> None:
        k2 = self.kernel_size**2
        for n, o in enumerate(self.out_index.tolist()):
            lecun_uniform_(self.weight[n], fan_in=len(self.table[o]) * k2)
        for o, inputs in enumerate(self.table):
            lecun_uniform_(self.bias[o : o + 1], fan_in=len(inputs) * k2)

    def dense_weight(self) -> torch.Tensor:
        """(C_out, C_in, k, k): the packed kernels scattered into a full kernel, zeros elsewhere."""
        k = self.kernel_size
        full = self.weight.new_zeros(self.out_maps, self.in_maps, k, k)
        return full.index_put((self.out_index, self.in_index), self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_maps}->{self.out_maps}, kernel {self.kernel_size}x{self.kernel_size}, "
            f"{self.weight.shape[0]} of {self.in_maps * self.out_maps} map pairs connected"
        )


class RBFOutput(nn.Module):
    """Euclidean RBF units with fixed centres: y_i = sum_j (x_j - codes_ij)^2.

    Input (N, D) -> penalties y (N, K), all >= 0; the prediction is argmin y. ``codes`` (K, D) is
    a buffer (saved with the model, never trained).
    """

    def __init__(self, codes: torch.Tensor) -> None:
        super().__init__()
        if codes.ndim != 2:
            raise ValueError(f"codes must be (classes, features), got shape {tuple(codes.shape)}.")
        self.register_buffer("codes", codes.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.unsqueeze(1) - self.codes).square().sum(dim=2)

    def extra_repr(self) -> str:
        k, d = self.codes.shape
        return f"{d}->{k}, fixed +1/-1 codes"


def map_loss(logits: torch.Tensor, target: torch.Tensor, j: float = MAP_J) -> torch.Tensor:
    """The paper's MAP criterion, averaged over the batch (a scalar).

    logits: (N, K) = -y, the negated RBF penalties; target: (N,) int class indices.
    loss = mean_n [ y_{n,c} + log(e^-j + sum_i e^-y_{n,i}) ], computed stably with logsumexp.
    With the e^-j term dropped this is cross-entropy on ``logits``.
    """
    if logits.ndim != 2 or target.shape != logits.shape[:1]:
        raise ValueError(
            f"map_loss expects logits (N, K) and target (N,), got {tuple(logits.shape)} and "
            f"{tuple(target.shape)}."
        )
    floor = logits.new_full((logits.shape[0], 1), -float(j))
    log_partition = torch.logsumexp(torch.cat([logits, floor], dim=1), dim=1)
    correct = logits.gather(1, target.long().unsqueeze(1)).squeeze(1)
    return (log_partition - correct).mean()


def connections(table: tuple[tuple[int, ...], ...] = C3_TABLE) -> int:
    """Number of connected (output, input) map pairs in ``table`` (60 for Table I)."""
    return sum(len(inputs) for inputs in table)


class LeNet1998(nn.Module):
    """The published LeNet-5: (N, 1, 32, 32) float images -> (N, 10) logits, 60,000 parameters.

    Squash 1.7159 tanh(2a/3) after C1, C3, C5 and F6; trainable subsampling S2, S4; C3 wired by
    Table I; Euclidean RBF output with fixed 7x12 codes. The logits are the negated RBF
    penalties -y (so ``argmax`` picks the nearest code) and :meth:`loss` is the MAP criterion
    with constant ``map_j``. Every weight and bias starts U(+-2.4 / fan_in), as in the paper.
    Layer names C1, S2, C3, S4, C5, F6, OUT as in :class:`lenet_ref.torch_lenet.LeNet5`; C5 is
    stored as ``nn.Linear(400, 120)`` (a 5x5 convolution over 5x5 maps).
    """

    #: The name under which checkpoints and summaries record this network.
    variant = "lecun1998"
    #: Constructor options, recorded in checkpoints.
    OPTIONS = ("map_j",)

    def __init__(self, *, map_j: float = MAP_J) -> None:
        super().__init__()
        self.map_j = float(map_j)
        self.C1 = nn.Conv2d(1, 6, kernel_size=5)
        self.S2 = Subsampling(6)
        self.C3 = PartialConv2d(6, C3_TABLE, kernel_size=5)
        self.S4 = Subsampling(16)
        self.C5 = nn.Linear(16 * 5 * 5, 120)
        self.F6 = nn.Linear(120, 84)
        self.OUT = RBFOutput(rbf_codes())
        for layer in (self.C1, self.C5, self.F6):  # S2, C3, S4 initialise themselves
            fan_in = layer.weight[0].numel()
            lecun_uniform_(layer.weight, fan_in)
            lecun_uniform_(layer.bias, fan_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, 32, 32) -> logits (N, 10) = -y, the negated RBF penalties."""
        check_input_shape(x.shape, "LeNet1998")
        x = self.S2(squash(self.C1(x)))  # (N, 6, 14, 14); the subsampling squashes itself
        x = self.S4(squash(self.C3(x)))  # (N, 16, 5, 5)
        x = squash(self.C5(torch.flatten(x, 1)))  # (N, 120)
        x = squash(self.F6(x))  # (N, 84)
        return -self.OUT(x)  # (N, 10)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The MAP criterion (a scalar) of logits (N, 10) against class indices (N,)."""
        return map_loss(logits, target, self.map_j)

    def options(self) -> dict[str, Any]:
        """The constructor's keyword arguments that rebuild this network."""
        return {"map_j": self.map_j}

    def extra_repr(self) -> str:
        return f"variant='lecun1998', map_j={self.map_j}"


__all__ = [
    "C3_TABLE",
    "DIGIT_BITMAPS",
    "MAP_J",
    "LeNet1998",
    "PartialConv2d",
    "RBFOutput",
    "Subsampling",
    "connections",
    "lecun_uniform_",
    "map_loss",
    "rbf_codes",
    "squash",
]
