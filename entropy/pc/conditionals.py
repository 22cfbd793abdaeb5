"""Exact conditionals p(x_i | x_<i) of an HCLT for entropy coding, in float64 numpy.

The cached scheme (`Conditionals`). Code the variables in depth-first pre-order of the tree. When variable i comes
up, everything observed so far is: i's ancestors, and whole subtrees that were finished before i (earlier siblings
of i and of its ancestors); nothing below i is observed. So

    p(x_i = a, x_<i)  ∝  sum_z down_i(z) p(x_i = a | z_i = z)

where down_i(z) is the outside message of i: p(z_i = z, evidence outside i's subtree). It is computed from its
parent's outside message (kept from when the parent was coded), the parent's own leaf value, and the messages of
the parent's finished child subtrees:

    down_i(z) = sum_j down_p(j) acc_p(j) p(z_i = z | z_p = j),  acc_p(j) = p(x_p | z_p = j) prod_{finished c} up_c(j)

and a subtree's upward message up_c(j) = sum_z p(z_c = z | z_p = j) acc_c(z) is computed once, when the subtree's
last variable has been coded. Every node thus costs one downward and one upward k x k product plus one k x C leaf
product: all D conditionals together cost O(|p|), one circuit evaluation, against O(D |p|) for the naive scheme
(`naive_conditionals`: a full marginal pass per variable). The paper's general scheme costs O(log D |p|); a tree
coded in pre-order needs no more than this constant-size cache per node.

Determinism: only elementwise products, divisions and row sums over contiguous float64 arrays (numpy's pairwise
summation, single threaded, no BLAS), in a fixed order. Messages are renormalised to sum 1 after every product, so
nothing underflows and the scale never matters. `pmf_grid` rounds each conditional to multiples of 2**-40 before
it is quantised, so float noise far below the grid rarely reaches the integer tables.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..tables import CdfTables
from . import _kernel
from .structure import Tree

GRID = 2.0**40


def export_probabilities(state: dict) -> dict[str, np.ndarray]:
    """float64 probabilities, each distribution renormalised to sum 1, from either export form."""
    out = {}
    for key, dim in (("root", 0), ("trans", 2), ("leaf", 1)):
        if "log_" + key in state:
            p = np.exp(np.asarray(state["log_" + key], dtype=np.float64))
        else:
            p = np.asarray(state[key], dtype=np.float64)
        out[key] = p / p.sum(axis=dim, keepdims=True)
    return out


class CodingModel:
    """An HCLT's parameters laid out for the conditional computations (float64, variable order)."""

    def __init__(self, parent: np.ndarray, root: np.ndarray, trans: np.ndarray, leaf: np.ndarray) -> None:
        self.tree = Tree(np.asarray(parent, dtype=np.int64))
        self.tree.validate()
        root = np.asarray(root, dtype=np.float64)
        trans = np.asarray(trans, dtype=np.float64)
        leaf = np.asarray(leaf, dtype=np.float64)
        d, k = trans.shape[0], root.shape[0]
        if trans.shape != (d, k, k) or leaf.ndim != 3 or leaf.shape[::2] != (d, k) or d != self.tree.size:
            raise ValueError("HCLT parameter shapes do not fit the tree")
        self.root = root / root.sum()
        self.up = np.ascontiguousarray(trans / trans.sum(axis=2, keepdims=True))  # [v, z_parent, z_v]
        self.down = np.ascontiguousarray(self.up.transpose(0, 2, 1))  # [v, z_v, z_parent]
        self.leaf = np.ascontiguousarray(leaf / leaf.sum(axis=1, keepdims=True))  # [v, x_v, z_v]
        self.order = np.asarray(self.tree.preorder(), dtype=np.int64)
        self.children = self.tree.children()
        self.size, self.hidden, self.categories = d, k, leaf.shape[1]

    @classmethod
    def from_state(cls, state: dict) -> CodingModel:
        """From an HCLT export (`HCLT.export()` or `compact_export()`; tensors or arrays)."""
        probs = export_probabilities(state)
        return cls(np.asarray(state["parent"]), probs["root"], probs["trans"], probs["leaf"])


def _normalised(v: np.ndarray) -> np.ndarray:
    return v / v.sum()


def pmf_grid(joint: np.ndarray) -> np.ndarray:
    """A conditional pmf from unnormalised joint values, rounded to multiples of 2**-40."""
    return np.round(joint / joint.sum() * GRID) / GRID


class Conditionals:
    """Steps through the coding order: `pmf()` is the conditional of the next variable, `observe(a)` fixes it.

    Encoder and decoder run the same steps, so they compute the same floats.
    """

    def __init__(self, model: CodingModel) -> None:
        self.m = model
        d, k = model.size, model.hidden
        self.outside = np.zeros((d, k))
        self.acc = np.zeros((d, k))
        self.finished = np.zeros(d, dtype=np.int64)
        self.position = 0

    @property
    def variable(self) -> int:
        """The variable whose conditional `pmf()` gives."""
        return int(self.m.order[self.position])

    def pmf(self) -> np.ndarray:
        m, i = self.m, self.variable
        p = int(m.tree.parent[i])
        if p < 0:
            self.outside[i] = m.root
        else:
            g = _normalised(self.outside[p] * self.acc[p])
            self.outside[i] = _normalised((m.down[i] * g[None, :]).sum(axis=1))
        joint = (m.leaf[i] * self.outside[i][None, :]).sum(axis=1)
        return pmf_grid(joint)

    def observe(self, value: int) -> None:
        m, v = self.m, self.variable
        self.acc[v] = _normalised(m.leaf[v, value])
        self.position += 1
        # A node without children finishes its subtree; pass finished subtrees' messages up as far as they go.
        if m.children[v]:
            return
        while True:
            p = int(m.tree.parent[v])
            if p < 0:
                return
            message = (m.up[v] * self.acc[v][None, :]).sum(axis=1)
            self.acc[p] = _normalised(self.acc[p] * message)
            self.finished[p] += 1
            if self.finished[p] < len(m.children[p]):
                return
            v = p

    def run(self, values: np.ndarray) -> Iterator[np.ndarray]:
        """Every conditional pmf in coding order, for known `values` (D,) in variable order (the encoder)."""
        for _ in range(self.m.size):
            pmf = self.pmf()
            yield pmf
            self.observe(int(values[self.variable]))


def conditionals(model: CodingModel, values: np.ndarray) -> np.ndarray:
    """All conditional pmfs (D, C) in coding order (`model.order`) for one sample (D,) in variable order."""
    return np.stack(list(Conditionals(model).run(values)))


def _inside(model: CodingModel, values: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A full upward pass under partial evidence: per node, inside (leaf x child messages) and the upward message."""
    d, k = model.size, model.hidden
    inside = np.ones((d, k))
    message = np.ones((d, k))
    for v in reversed(model.tree.bfs_order()):
        if observed[v]:
            inside[v] = inside[v] * model.leaf[v, values[v]]
        inside[v] = _normalised(inside[v])
        message[v] = _normalised((model.up[v] * inside[v][None, :]).sum(axis=1))
        p = model.tree.parent[v]
        if p >= 0:
            inside[p] = inside[p] * message[v]
    return inside, message


def naive_conditionals(model: CodingModel, values: np.ndarray, count: int | None = None) -> np.ndarray:
    """The reference: for each variable, a full marginal pass over the whole tree (O(D |p|) in all).

    `count` stops after the first variables of the coding order (each costs the same, for timing large trees).

    Upward pass with the evidence so far, then the outside message walked down from the root to the variable,
    multiplying in the upward messages of all siblings along the path.
    """
    d = model.size
    count = d if count is None else min(count, d)
    out = np.empty((count, model.categories))
    observed = np.zeros(d, dtype=bool)
    parent = model.tree.parent
    for n, i in enumerate(model.order[:count].tolist()):
        inside, message = _inside(model, values, observed)
        path = [i]
        while parent[path[-1]] >= 0:
            path.append(int(parent[path[-1]]))
        outside = model.root
        for p, c in zip(path[::-1], path[::-1][1:]):
            own = model.leaf[p, values[p]] if observed[p] else np.ones(model.hidden)
            g = outside * own
            for s in model.children[p]:
                if s != c:
                    g = g * message[s]
            outside = _normalised((model.down[c] * _normalised(g)[None, :]).sum(axis=1))
        below = np.ones(model.hidden)
        for c in model.children[i]:
            below = below * message[c]
        out[n] = pmf_grid((model.leaf[i] * (outside * below)[None, :]).sum(axis=1))
        observed[i] = True
    return out


class BatchConditionals:
    """`Conditionals` for a batch of samples side by side, in the native kernel (`_kernel.cpp`).

    Same scheme, but every sum runs in one fixed order with no fused multiply-add, so the pmfs are the same IEEE
    values on every machine, for every batch size and thread count (samples never interact). They differ from the
    numpy `Conditionals` only by float rounding (~1e-16): a file must be decoded with the scheme that encoded it.
    """

    def __init__(self, model: CodingModel, batch: int, threads: int = 1) -> None:
        self.m = model
        self._stepper = _kernel.Stepper(_native_model(model), batch, threads)
        self._out = np.empty((batch, model.categories))

    @property
    def variable(self) -> int:
        """The variable whose conditionals `pmf()` gives (-1 once all are coded)."""
        return self._stepper.variable

    def pmf(self) -> np.ndarray:
        """(batch, C) conditionals of the current variable; the array is reused by the next call."""
        self._stepper.pmf(self._out)
        return self._out

    def tables(self, precision: int = 16) -> CdfTables:
        """The conditionals of the current variable as integer tables, one per sample (quantised as
        `quantize_pmf` does, inside the kernel)."""
        cdf = np.empty((self._out.shape[0], self.m.categories + 1), dtype=np.int32)
        self._stepper.cdf(cdf, precision)
        lengths = np.full(cdf.shape[0], self.m.categories, dtype=np.int32)
        return CdfTables(cdf, lengths, np.zeros_like(lengths), precision, check=False)

    def observe(self, values: np.ndarray) -> None:
        """Fix the current variable to `values` (batch,) and move on."""
        self._stepper.observe(np.ascontiguousarray(values, dtype=np.int64))


def _native_model(model: CodingModel):
    native = getattr(model, "_native", None)
    if native is None:
        native = model._native = _kernel.Model(model.tree.parent, model.order, model.root, model.down, model.up,
                                               model.leaf)
    return native
