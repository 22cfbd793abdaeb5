"""rcodec.entropy.pc: hidden Chow-Liu tree probabilistic circuits (HCLT) and their exact conditionals for coding.

- `structure`: mutual information, Chow-Liu tree, rooting and node orders;
- `circuit`: the HCLT in torch (exact log-likelihood and marginals, mini-batch EM);
- `conditionals`: p(x_i | x_<i) in float64 for entropy coding, the fast cached scheme and the naive one.
"""

from .structure import Tree, chow_liu_tree, maximum_spanning_tree, mutual_information, random_tree, root_tree


def __getattr__(name: str):
    # torch is imported only when the circuit is used, so the structure code stays light.
    if name == "HCLT":
        from .circuit import HCLT

        return HCLT
    raise AttributeError(name)


__all__ = ["HCLT", "Tree", "chow_liu_tree", "maximum_spanning_tree", "mutual_information", "random_tree",
           "root_tree"]
