"""Correct work for 10_lecun1998: one submission (grading it trains the 1998 network)."""

# ruff: noqa: E501 - notebook code kept in strings (notebooks allow long lines)

from tests.correct_work import Submission, code

ASSIGNMENT = "10_lecun1998"

OTHER_OPERATIONS = Submission(
    "other PyTorch operations for every layer",
    "block sums by a grouped convolution with a ones kernel (stride 2, one group per map); the "
    "table checked and walked in plain loops (no index buffers), the connection mask and the "
    "dense kernel built map by map with torch.stack; RBF penalties by expanding |x - c|^2 = |x|^2 - 2 x.c + |c|^2; the MAP loss "
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
                """C3 by hand: one k x k kernel per (output map, input map) pair the table lists."""

                def __init__(self, in_maps, table, kernel_size):
                    super().__init__()
                    self.table = []
                    for o, inputs in enumerate(table):
                        inputs = tuple(int(i) for i in inputs)
                        if len(inputs) == 0 or sorted(set(inputs)) != sorted(inputs):
                            raise ValueError(f"table[{o}] = {inputs}: list distinct input maps")
                        if min(inputs) < 0 or max(inputs) >= in_maps:
                            raise ValueError(f"table[{o}] = {inputs}: maps are 0..{in_maps - 1}")
                        self.table.append(inputs)
                    self.table = tuple(self.table)
                    self.in_maps, self.out_maps, self.kernel_size = in_maps, len(table), kernel_size
                    n_pairs = sum(len(inputs) for inputs in self.table)
                    self.weight = nn.Parameter(torch.empty(n_pairs, kernel_size, kernel_size))
                    self.bias = nn.Parameter(torch.empty(self.out_maps))
                    n = 0
                    for o, inputs in enumerate(self.table):  # kernels in table order
                        fan_in = len(inputs) * kernel_size * kernel_size
                        for _ in inputs:
                            lecun_uniform_(self.weight[n], fan_in=fan_in)
                            n += 1
                    for o, inputs in enumerate(self.table):
                        lecun_uniform_(self.bias[o : o + 1], fan_in=len(inputs) * kernel_size**2)

                def connection_mask(self):
                    mask = torch.zeros((self.out_maps, self.in_maps), dtype=torch.bool)
                    for o, inputs in enumerate(self.table):
                        mask[o, list(inputs)] = True
                    return mask

                def dense_weight(self):
                    rows, n = [], 0
                    for inputs in self.table:
                        kernels = [torch.zeros_like(self.weight[0])] * self.in_maps
                        for i in inputs:
                            kernels[i] = self.weight[n]
                            n += 1
                        rows.append(torch.stack(kernels))
                    return torch.stack(rows)

                def forward(self, x):
                    return F.conv2d(x, self.dense_weight(), self.bias)
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
