"""Tree structure of a hidden Chow-Liu tree (HCLT): mutual information, maximum spanning tree, rooting, orders.

A `Tree` is a rooted tree over D variables, given by `parent[v]` (-1 at the root). Two node orders matter:

- levels (breadth first): nodes of equal depth are contiguous, so training evaluates a whole depth at once;
- pre-order (depth first): the coding order, in which every conditional costs O(1) circuit updates
  (see `rcodec.entropy.pc.conditionals`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


def mutual_information(data: np.ndarray, bins: int = 2) -> np.ndarray:
    """Pairwise mutual information (nats) of D discrete variables from samples `data` (N, D) in [0, bins).

    Joint counts come from one matrix product per pair of bin values, so D = 784 takes well under a second.
    Counts get a small pseudocount so constant variables have MI 0 instead of NaN.
    """
    data = np.asarray(data)
    n, d = data.shape
    onehot = [(data == b).astype(np.float64) for b in range(bins)]
    joint = np.empty((bins, bins, d, d))
    for a in range(bins):
        for b in range(bins):
            joint[a, b] = onehot[a].T @ onehot[b]
    joint = (joint + 1e-3) / (n + 1e-3 * bins * bins)
    marg = joint.sum(axis=1)  # (bins, d, d): p(x_i = a), constant along the last axis
    pa = marg[:, :, 0]  # (bins, d)
    mi = np.zeros((d, d))
    for a in range(bins):
        for b in range(bins):
            pab = joint[a, b]
            mi += pab * (np.log(pab) - np.log(pa[a][:, None]) - np.log(pa[b][None, :]))
    np.fill_diagonal(mi, 0.0)
    return np.maximum(mi, 0.0)


def maximum_spanning_tree(weights: np.ndarray) -> list[tuple[int, int]]:
    """Edges of a maximum-weight spanning tree of a complete graph (Prim, O(D^2)); ties go to the lower index."""
    d = weights.shape[0]
    in_tree = np.zeros(d, dtype=bool)
    in_tree[0] = True
    best = weights[0].astype(np.float64).copy()
    best_from = np.zeros(d, dtype=np.int64)
    edges = []
    for _ in range(d - 1):
        cand = np.where(in_tree, -np.inf, best)
        v = int(np.argmax(cand))
        edges.append((int(best_from[v]), v))
        in_tree[v] = True
        better = weights[v] > best
        best = np.where(better, weights[v], best)
        best_from = np.where(better, v, best_from)
    return edges


@dataclass(frozen=True)
class Tree:
    """A rooted tree over variables 0..D-1."""

    parent: np.ndarray  # (D,) int64, -1 at the root

    @property
    def size(self) -> int:
        return int(self.parent.shape[0])

    @property
    def root(self) -> int:
        return int(np.flatnonzero(self.parent < 0)[0])

    def children(self) -> list[list[int]]:
        """Children of every node, in increasing variable order (the order siblings are coded in)."""
        out: list[list[int]] = [[] for _ in range(self.size)]
        for v, p in enumerate(self.parent.tolist()):
            if p >= 0:
                out[p].append(v)
        return out

    def depth(self) -> np.ndarray:
        depth = np.zeros(self.size, dtype=np.int64)
        for v in self.bfs_order()[1:]:
            depth[v] = depth[self.parent[v]] + 1
        return depth

    def bfs_order(self) -> list[int]:
        kids = self.children()
        order, queue = [], deque([self.root])
        while queue:
            v = queue.popleft()
            order.append(v)
            queue.extend(kids[v])
        return order

    def preorder(self) -> list[int]:
        """Depth-first pre-order, children in increasing order; iterative so deep trees do not hit recursion limits."""
        kids = self.children()
        order, stack = [], [self.root]
        while stack:
            v = stack.pop()
            order.append(v)
            stack.extend(reversed(kids[v]))
        return order

    def validate(self) -> None:
        d = self.size
        if self.parent.ndim != 1 or np.sum(self.parent < 0) != 1 or np.any(self.parent >= d):
            raise ValueError("a tree needs exactly one root and parents inside 0..D-1")
        if len(self.bfs_order()) != d:
            raise ValueError("the parent array has a cycle or unreachable nodes")


def root_tree(edges: list[tuple[int, int]], d: int, root: int | None = None) -> Tree:
    """Orient undirected tree edges away from `root`; by default the tree's centre (smallest height)."""
    adj: list[list[int]] = [[] for _ in range(d)]
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)

    def bfs(start: int) -> np.ndarray:
        parent = np.full(d, -2, dtype=np.int64)
        parent[start] = -1
        queue, last = deque([start]), start
        while queue:
            v = queue.popleft()
            last = v
            for u in adj[v]:
                if parent[u] == -2:
                    parent[u] = v
                    queue.append(u)
        if np.any(parent == -2):
            raise ValueError("the edges do not connect all variables")
        return parent, last

    if root is None:
        # The centre is the middle of a longest path: BFS to the farthest node a, then to the farthest from a.
        _, a = bfs(0)
        parent, b = bfs(a)
        path = [b]
        while parent[path[-1]] >= 0:
            path.append(int(parent[path[-1]]))
        root = path[len(path) // 2]
    parent, _ = bfs(root)
    tree = Tree(parent)
    tree.validate()
    return tree


def chow_liu_tree(data: np.ndarray, bins: int = 2, root: int | None = None) -> Tree:
    """The Chow-Liu tree of discrete samples (N, D): maximum spanning tree of pairwise mutual information."""
    mi = mutual_information(data, bins)
    return root_tree(maximum_spanning_tree(mi), data.shape[1], root)


def random_tree(d: int, rng: np.random.Generator) -> Tree:
    """A random recursive tree (node v attaches to a uniform earlier node), rooted at 0: depth grows like log D."""
    parent = np.full(d, -1, dtype=np.int64)
    for v in range(1, d):
        parent[v] = rng.integers(0, v)
    return Tree(parent)
