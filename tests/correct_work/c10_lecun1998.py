"""Correct work for 10_lecun1998: one submission (grading it trains the 1998 network)."""

# ruff: noqa: E501 - notebook code kept in strings (notebooks allow long lines)

from tests.correct_work import Submission, code

ASSIGNMENT = "10_lecun1998"

OTHER_OPERATIONS = Submission(
    "other PyTorch operations for every layer",
    "block sums by a grouped convolution with a ones kernel (stride 2, one group per map); the "
    "connection mask from the layer's index buffers; the dense kernel by index_put on a "
    "zero tensor; RBF penalties by expanding |x - c|^2 = |x|^2 - 2 x.c + |c|^2; the MAP loss "
    "as F.cross_entropy over the logits with the extra constant logit -j appended; the "
    "concept answers computed",
    {
        "subsampling": code(
            '''
            class Subsampling(nn.Module):
                """S2/S4: squash(coefficient * (sum of each 2x2 block) + bias), per map."""

                def __init__(self, maps):
                    super().__init__()
                    self.maps = maps
                    self.weight = nn.Parameter(torch.empty(maps))  # one coefficient per map
                    self.bias = nn.Parameter(torch.empty(maps))  # one bias per map
                    lecun_uniform_(self.weight, fan_in=4)
                    lecun_uniform_(self.bias, fan_in=4)

                def forward(self, x):
                    # One 2x2 kernel of ones per map (groups=maps): each output is a block sum.
                    ones = x.new_ones(self.maps, 1, 2, 2)
                    block_sum = F.conv2d(x, ones, stride=2, groups=self.maps)
                    a = self.weight[None, :, None, None] * block_sum + self.bias[None, :, None, None]
                    return squash(a)
            '''
        ),
        "partial_conv": code(
            '''
            class PartialConv2d(nn.Module):
                """A convolution in which output map o sees only the input maps table[o] (C3)."""

                def __init__(self, in_maps, table, kernel_size):
                    super().__init__()
                    for o, inputs in enumerate(table):
                        if (
                            not inputs
                            or len(set(inputs)) != len(inputs)
                            or not all(0 <= i < in_maps for i in inputs)
                        ):
                            raise ValueError(
                                f"table[{o}] = {inputs} must list distinct input maps in 0..{in_maps - 1}."
                            )
                    self.in_maps = in_maps
                    self.out_maps = len(table)
                    self.kernel_size = kernel_size
                    self.table = tuple(tuple(inputs) for inputs in table)
                    pairs = [(o, i) for o, inputs in enumerate(self.table) for i in inputs]  # table order
                    # kernel weight[n] connects output map out_index[n] with input map in_index[n]
                    self.register_buffer("out_index", torch.tensor([o for o, _ in pairs]), persistent=False)
                    self.register_buffer("in_index", torch.tensor([i for _, i in pairs]), persistent=False)
                    self.weight = nn.Parameter(torch.empty(len(pairs), kernel_size, kernel_size))
                    self.bias = nn.Parameter(torch.empty(self.out_maps))
                    k2 = kernel_size**2
                    for n, (o, _) in enumerate(pairs):  # fan-in of map o: len(table[o]) kernels of k x k
                        lecun_uniform_(self.weight[n], fan_in=len(self.table[o]) * k2)
                    for o, inputs in enumerate(self.table):
                        lecun_uniform_(self.bias[o : o + 1], fan_in=len(inputs) * k2)

                def connection_mask(self):
                    mask = torch.zeros((self.out_maps, self.in_maps), dtype=torch.bool)
                    mask[self.out_index.cpu(), self.in_index.cpu()] = True
                    return mask

                def dense_weight(self):
                    k = self.kernel_size
                    zeros = torch.zeros(
                        (self.out_maps, self.in_maps, k, k), dtype=self.weight.dtype, device=self.weight.device
                    )
                    return zeros.index_put((self.out_index, self.in_index), self.weight)

                def forward(self, x):
                    return F.conv2d(x, self.dense_weight(), bias=self.bias, stride=1, padding=0)
            '''
        ),
        "c3_connections": code(
            """
            c3_weights = sum(len(inputs) for inputs in C3_TABLE) * 5 * 5 + len(C3_TABLE)
            c3_connections = c3_weights * 10 * 10
            """
        ),
        "table_reasons": 'table_reasons = frozenset(["c", "a"])\n',
        "rbf_output": code(
            '''
            class RBFOutput(nn.Module):
                """Euclidean RBF units with fixed centres: y_i = sum_j (x_j - codes_ij)^2."""

                def __init__(self, codes):
                    super().__init__()
                    if codes.ndim != 2:
                        raise ValueError(f"codes must be (classes, features), got shape {tuple(codes.shape)}.")
                    self.register_buffer("codes", codes.clone())

                def forward(self, x):
                    c = self.codes.to(x.dtype)
                    return (x * x).sum(1, keepdim=True) - 2 * x @ c.T + (c * c).sum(1)
            '''
        ),
        "map_loss": code(
            '''
            def map_loss(logits, target, j=MAP_J):
                """Cross-entropy over K + 1 logits, the last one the constant -j: the MAP criterion."""
                extra = torch.full_like(logits[:, :1], -j)
                return F.cross_entropy(torch.cat((logits, extra), dim=1), target.long())
            '''
        ),
    },
)

SUBMISSIONS = [OTHER_OPERATIONS]
