"""The HCLT circuit in torch: a tree of latent variables, one categorical leaf per observed variable.

    p(x) = sum_z p(z_root) prod_{v != root} p(z_v | z_parent(v)) prod_v p(x_v | z_v)

As a probabilistic circuit: every node v has k sum units (one per state of its parent's latent) over k product
units (leaf of v times the messages of v's children). Evaluation is an upward pass, one tree depth at a time, in log
space: the message a child c sends to its parent is log sum_{z_c} p(z_c | z_p) exp(m_c(z_c)).

Marginals are exact: a variable that is not observed gets leaf value 1 (log 0), which sums it out.
"""

from __future__ import annotations

import numpy as np
import torch

from .conditionals import export_probabilities
from .structure import Tree


class HCLT(torch.nn.Module):
    """Parameters (log probabilities, in variable order):

    - `log_root` (k,): p(z_root);
    - `log_trans` (D, k, k): row j of node v is p(z_v | z_parent = j) (the root's rows are unused);
    - `log_leaf` (D, C, k): column z of node v is p(x_v | z_v = z) over C categories.
    """

    def __init__(self, tree: Tree, hidden: int, categories: int = 256) -> None:
        super().__init__()
        tree.validate()
        self.tree, self.hidden, self.categories = tree, hidden, categories
        d = tree.size
        self.log_root = torch.nn.Parameter(torch.full((hidden,), -float(np.log(hidden))))
        self.log_trans = torch.nn.Parameter(torch.full((d, hidden, hidden), -float(np.log(hidden))))
        self.log_leaf = torch.nn.Parameter(torch.full((d, categories, hidden), -float(np.log(categories))))
        self._build_levels()

    def _build_levels(self) -> None:
        # Breadth-first positions: each depth is a contiguous slice of `order`; parents are indexed within the
        # slice above, so one index_add moves all of a depth's messages up.
        order = self.tree.bfs_order()
        depth = self.tree.depth()
        position = np.empty(self.tree.size, dtype=np.int64)
        position[order] = np.arange(len(order))
        bounds = np.searchsorted(depth[order], np.arange(int(depth.max()) + 2))
        self.levels: list[tuple[int, int, torch.Tensor, torch.Tensor]] = []
        for lvl in range(len(bounds) - 1):
            s, e = int(bounds[lvl]), int(bounds[lvl + 1])
            nodes = torch.as_tensor(order[s:e])
            if lvl == 0:
                local_parent = torch.zeros(0, dtype=torch.long)
            else:
                local_parent = torch.as_tensor(position[self.tree.parent[order[s:e]]] - bounds[lvl - 1])
            self.levels.append((s, e, nodes, local_parent))
        self.order = torch.as_tensor(order)

    def randomize(self, generator: torch.Generator, leaf_init: torch.Tensor | None = None, noise: float = 1.0) -> None:
        """Random near-uniform transitions; leaves = `leaf_init` (D, C) marginals (or uniform) times lognormal noise.

        The noise breaks the symmetry between latent states, which EM cannot break by itself.
        """
        d, k, c = self.tree.size, self.hidden, self.categories
        dtype = self.log_trans.dtype  # normalise in the parameters' own precision, so they sum to 1 there
        with torch.no_grad():
            t = torch.exp(noise * torch.randn(d, k, k, generator=generator).to(dtype))
            self.log_trans.copy_(torch.log(t / t.sum(-1, keepdim=True)))
            base = torch.full((d, c), 1.0 / c, dtype=dtype) if leaf_init is None else leaf_init.to(dtype)
            leaf = base[:, :, None] * torch.exp(noise * torch.randn(d, c, k, generator=generator).to(dtype))
            self.log_leaf.copy_(torch.log(leaf / leaf.sum(1, keepdim=True)))
            self.log_root.fill_(-float(np.log(k)))

    def log_likelihood(self, x: torch.Tensor, observed: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x) in nats for a batch x (B, D) of integer categories; `observed` (B, D) bool marginalises the rest.

        Differentiable in the log parameters: the gradient of the summed log likelihood with respect to each log
        parameter is that parameter's expected count (its circuit flow), which is what EM needs.
        """
        x = x.long()
        b = x.shape[0]
        xo = x[:, self.order]
        leaf = self.log_leaf[self.order[None, :], xo]  # (B, D, k), positions in breadth-first order
        if observed is not None:
            leaf = leaf * observed[:, self.order, None].to(leaf.dtype)
        # torch.split, not slicing: its backward is one concatenation instead of a full-size zero tensor per level.
        per_level = torch.split(leaf, [e - s for s, e, _, _ in self.levels], dim=1)
        incoming = None
        # Deepest level first; each level's messages are added into the level above it.
        for lvl in range(len(self.levels) - 1, -1, -1):
            s, e, nodes, local_parent = self.levels[lvl]
            m = per_level[lvl] if incoming is None else per_level[lvl] + incoming
            if lvl == 0:
                return torch.logsumexp(m[:, 0] + self.log_root, dim=-1)
            top = m.max(dim=-1, keepdim=True).values
            trans = torch.exp(self.log_trans[nodes])  # (n, k_parent, k_child)
            up = torch.log(torch.einsum("bnk,njk->bnj", torch.exp(m - top), trans)) + top
            ps, pe = self.levels[lvl - 1][:2]
            incoming = up.new_zeros(b, pe - ps, self.hidden).index_add(1, local_parent, up)
        raise AssertionError("unreachable")

    @torch.no_grad()
    def em_update(self, step: float, pseudocount: float) -> None:
        """One mini-batch EM step from the flows left in `.grad` by `log_likelihood(x).sum().backward()`.

        new = normalise(flows + pseudocount); params = (1 - step) * params + step * new, in probability space.
        """
        for param, dim in ((self.log_root, 0), (self.log_trans, 2), (self.log_leaf, 1)):
            flows = param.grad if param.grad is not None else torch.zeros_like(param)
            target = flows + pseudocount
            target = target / target.sum(dim, keepdim=True)
            mixed = (1 - step) * torch.exp(param) + step * target
            param.copy_(torch.log(mixed / mixed.sum(dim, keepdim=True)))
            param.grad = None

    def export(self) -> dict:
        """Tensors to save: the tree and float64 probabilities (variable order)."""
        probs = {key: torch.exp(param.detach().double())
                 for key, param in (("root", self.log_root), ("trans", self.log_trans), ("leaf", self.log_leaf))}
        return {"parent": torch.as_tensor(self.tree.parent), "hidden": self.hidden, "categories": self.categories,
                **probs}

    @classmethod
    def from_export(cls, state: dict, dtype: torch.dtype = torch.float32) -> HCLT:
        """Rebuild from `export()` or `compact_export()` (renormalised in float64)."""
        tree = Tree(np.asarray(state["parent"]).astype(np.int64))
        model = cls(tree, int(state["hidden"]), int(state["categories"])).to(dtype)
        probs = export_probabilities(state)
        with torch.no_grad():
            for key, param in (("root", model.log_root), ("trans", model.log_trans), ("leaf", model.log_leaf)):
                param.copy_(torch.log(torch.as_tensor(probs[key])))
        return model


def compact_export(state: dict) -> dict:
    """`export()` with log probabilities in float16: a quarter of float64's size. Relative precision 2**-11 in the
    log domain moves a probability by at most ~1% (a negligible rate cost), and zero never occurs."""
    out = {key: value for key, value in state.items() if key not in ("root", "trans", "leaf")}
    for key in ("root", "trans", "leaf"):
        out["log_" + key] = torch.log(torch.as_tensor(state[key]).double()).clamp_min(-60000).half()
    return out

