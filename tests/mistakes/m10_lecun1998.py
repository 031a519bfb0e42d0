"""Mistakes for 10_lecun1998: each is the solution's own cell with one plausible bug.

Neither changes what the network computes with C3_TABLE (whose entries are sorted, and whose
mask the model never uses), so the trained model stays the same and each mistake costs exactly
its own test, which fails in a second.
"""

from tests.mistakes import Mistake, with_bug

ASSIGNMENT = "10_lecun1998"


MISTAKES = [
    # The paper draws Table I with the S2 maps as rows; the mask wants one row per output map.
    Mistake(
        "connection_mask laid out as Table I is drawn: (C_in, C_out) instead of (C_out, C_in)",
        with_bug(
            ASSIGNMENT,
            "partial_conv",
            "mask = torch.zeros(self.out_maps, self.in_maps, dtype=torch.bool)\n"
            "        for o, inputs in enumerate(self.table):\n"
            "            mask[o, list(inputs)] = True\n",
            "mask = torch.zeros(self.in_maps, self.out_maps, dtype=torch.bool)\n"
            "        for o, inputs in enumerate(self.table):\n"
            "            mask[list(inputs), o] = True\n",
        ),
        frozenset({"test_connection_mask"}),
    ),
    # A boolean mask fills row by row (sorted input maps), not in table order: right for Table I,
    # whose entries are sorted, wrong for a table such as ((2, 0), (1,)).
    Mistake(
        "dense_weight scatters the kernels through the boolean mask, ignoring table order",
        with_bug(
            ASSIGNMENT,
            "partial_conv",
            "dense[self.out_index, self.in_index] = self.weight",
            "dense[self.connection_mask()] = self.weight",
        ),
        frozenset({"test_partial_conv"}),
    ),
    # Counts C3's parameters instead of its connections (weight sharing ignored).
    Mistake(
        "c3_connections counts the parameters, not the connections",
        with_bug(
            ASSIGNMENT,
            "c3_connections",
            "c3_connections = 1_516 * 10 * 10",
            "c3_connections = 1_516",
        ),
        frozenset({"test_c3_connections"}),
    ),
    # Takes the sparse table for a regularizer like dropout.
    Mistake(
        "table_reasons picks 'acts like dropout' instead of 'breaks the symmetry'",
        with_bug(
            ASSIGNMENT,
            "table_reasons",
            'table_reasons = {"a", "c"}',
            'table_reasons = {"a", "e"}',
        ),
        frozenset({"test_table_reasons"}),
    ),
]
