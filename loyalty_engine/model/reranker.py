"""The learned re-rankers: small numpy/scipy models mapping pair features to a probability.

Two learners share one interface (``fit(X, y, weight)``, ``predict(X)``, ``to_arrays``/
``from_arrays`` for the npz state):

* ``LogisticReranker``: L2-regularized logistic regression on standardized features, fitted
  with L-BFGS (scipy.optimize). Fast to fit and to apply.
* ``BoostedReranker``: gradient-boosted *oblivious* trees (one split per level, as in
  CatBoost) on quantile-binned features, for the log-loss. Oblivious trees are cheap to apply
  to millions of pairs (a leaf index is a handful of comparisons) and resist over-fitting.

Both minimize the log-loss, so their outputs are probabilities; ``Calibrator`` then corrects
the drift between the training windows and ``as_of`` (Platt scaling on the latest window).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit


@dataclass
class LogisticReranker:
    l2: float = 1.0
    max_iter: int = 400
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    intercept: float = 0.0

    kind = "logistic"

    def fit(self, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> "LogisticReranker":
        y = y.astype(np.float64)
        weight = np.ones_like(y) if weight is None else weight.astype(np.float64)
        self.mean = X.mean(axis=0, dtype=np.float64)
        self.scale = X.std(axis=0, dtype=np.float64) + 1e-6
        Z = (X - self.mean) / self.scale
        n_features = Z.shape[1]
        total = weight.sum()
        base = np.clip(np.average(y, weights=weight), 1e-6, 1 - 1e-6)

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            z = Z @ w[:-1] + w[-1]
            value = (weight * (np.logaddexp(0.0, z) - y * z)).sum() / total
            resid = weight * (expit(z) - y) / total
            grad = np.empty_like(w)
            grad[:-1] = Z.T @ resid + self.l2 * w[:-1] / total
            grad[-1] = resid.sum()
            return value + 0.5 * self.l2 * (w[:-1] ** 2).sum() / total, grad

        start = np.zeros(n_features + 1)
        start[-1] = np.log(base / (1 - base))
        result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter})
        self.coef = result.x[:-1]
        self.intercept = float(result.x[-1])
        return self

    def logit(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.scale) @ self.coef + self.intercept

    def predict(self, X: np.ndarray) -> np.ndarray:
        return expit(self.logit(X))

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}kind": np.array(self.kind),
            f"{prefix}mean": self.mean, f"{prefix}scale": self.scale,
            f"{prefix}coef": self.coef, f"{prefix}intercept": np.array(self.intercept),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> "LogisticReranker":
        return cls(
            mean=arrays[f"{prefix}mean"], scale=arrays[f"{prefix}scale"],
            coef=arrays[f"{prefix}coef"], intercept=float(arrays[f"{prefix}intercept"]),
        )


@dataclass
class BoostedReranker:
    n_trees: int = 80
    depth: int = 5
    learning_rate: float = 0.15
    n_bins: int = 32
    l2: float = 10.0
    min_hessian: float = 20.0
    row_sample: float = 0.5
    rows_per_tree: int = 32_768  # at most about this many sampled rows grow one tree
    seed: int = 0
    edges: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (features, bins-1)
    split_feature: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))  # (trees, depth)
    split_bin: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint8))
    leaf_value: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (trees, 2**depth)
    base: float = 0.0

    kind = "boosted"

    def _binned(self, X: np.ndarray) -> np.ndarray:
        """Bin codes, column-major so a tree level reads one contiguous column."""
        out = np.zeros(X.shape, dtype=np.uint8, order="F")
        for j in range(X.shape[1]):
            column, code = np.ascontiguousarray(X[:, j]), out[:, j]
            # A bin code counts the edges at or below x (searchsorted 'right'); with at most
            # n_bins - 1 edges, adding one comparison per edge is several times faster.
            for edge in self.edges[j][np.isfinite(self.edges[j])]:
                code += column >= edge
        return out

    def _fit_edges(self, X: np.ndarray, rng: np.random.Generator) -> None:
        n, n_features = X.shape
        sample = rng.choice(n, size=min(n, 100_000), replace=False) if n else np.zeros(0, int)
        quantiles = np.linspace(0, 1, self.n_bins + 1)[1:-1]
        edges = np.full((n_features, self.n_bins - 1), np.inf, dtype=np.float32)
        for j in range(n_features):
            cuts = np.unique(np.quantile(X[sample, j], quantiles)) if n else np.zeros(0)
            edges[j, : cuts.shape[0]] = cuts
        self.edges = edges

    def fit(self, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> "BoostedReranker":
        rng = np.random.default_rng(self.seed)
        n, n_features = X.shape
        y = y.astype(np.float64)
        weight = np.ones(n) if weight is None else weight.astype(np.float64)
        self._fit_edges(X, rng)
        # Rows in a random order once: each tree then takes the next contiguous block of them
        # (a fresh sample without replacement, cycling like epochs) without a gather per tree.
        order = rng.permutation(n)
        y, weight = y[order], weight[order]
        Xb = self._binned(X[order])  # column-major: the full-data leaf updates read columns
        Xb_rows = np.ascontiguousarray(Xb)  # row-major: a tree's block of rows is one slice
        base = np.clip(np.average(y, weights=weight), 1e-6, 1 - 1e-6)
        self.base = float(np.log(base / (1 - base)))
        z = np.full(n, self.base)
        features = np.zeros((self.n_trees, self.depth), dtype=np.int32)
        split_bins = np.zeros((self.n_trees, self.depth), dtype=np.uint8)
        leaves = np.zeros((self.n_trees, 1 << self.depth))
        # Each tree sees a fresh random subset of rows (stochastic boosting): it regularizes,
        # and it caps the histogram work per tree whatever the number of training rows.
        block = max(1, min(int(n * self.row_sample), self.rows_per_tree))
        n_blocks = max(n // block, 1)
        for t in range(self.n_trees):
            if t and t % n_blocks == 0:  # a new epoch: a new order, so blocks mix differently
                order = rng.permutation(n)
                Xb, Xb_rows = np.asfortranarray(Xb[order]), Xb_rows[order]
                y, weight, z = y[order], weight[order], z[order]
            begin = (t % n_blocks) * block
            rows = slice(begin, begin + block)
            # Gradients of the log-loss, needed on the sampled rows only.
            p, w_rows = expit(z[rows]), weight[rows]
            g_rows = (p - y[rows]) * w_rows
            h_rows = np.maximum(p * (1 - p), 1e-6) * w_rows
            features[t], split_bins[t], node = self._grow(Xb_rows[rows], g_rows, h_rows)
            n_leaves = 1 << self.depth
            g_leaf = np.bincount(node, weights=g_rows, minlength=n_leaves)
            h_leaf = np.bincount(node, weights=h_rows, minlength=n_leaves)
            leaves[t] = -g_leaf / (h_leaf + self.l2) * self.learning_rate
            z += leaves[t][self._leaf_index(Xb, features[t], split_bins[t])]
        self.split_feature, self.split_bin, self.leaf_value = features, split_bins, leaves
        return self

    def _grow(self, Xr: np.ndarray, gr: np.ndarray, hr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One oblivious tree: at each level the (feature, bin) split with the best total gain
        over all nodes of the level, from gradient/hessian histograms. Returns the splits and
        the leaf of every row.

        Histogram subtraction: below the root only the smaller side of the last split is
        counted; the other side is its parent's histogram minus it.
        """
        n_rows, n_features = Xr.shape
        bins = self.n_bins
        cells = n_features * bins
        # Histogram cell of every (row, feature) within one node.
        flat = Xr.astype(np.int32) + (np.arange(n_features, dtype=np.int32) * bins)[None, :]
        node = np.zeros(n_rows, dtype=np.int32)
        features = np.zeros(self.depth, dtype=np.int32)
        split_bins = np.zeros(self.depth, dtype=np.uint8)
        hist = self._histogram(flat, node, gr, hr, 1, cells)
        for level in range(self.depth):
            n_nodes = 1 << level
            G = np.cumsum(hist[0].reshape(n_nodes, n_features, bins), axis=2)
            H = np.cumsum(hist[1].reshape(n_nodes, n_features, bins), axis=2)
            g_all, h_all = G[:, :, -1:], H[:, :, -1:]
            g_right, h_right = g_all - G, h_all - H
            gain = G**2 / (H + self.l2) + g_right**2 / (h_right + self.l2) - g_all**2 / (h_all + self.l2)
            gain = np.where((H < self.min_hessian) | (h_right < self.min_hessian), 0.0, gain)
            f, b = np.unravel_index(int(np.argmax(gain.sum(axis=0))), (n_features, bins))
            features[level], split_bins[level] = f, b
            right = Xr[:, f] > b
            if level + 1 == self.depth:
                node = node * 2 + right
                break
            small_is_right = 2 * int(right.sum()) <= n_rows
            rows = np.flatnonzero(right if small_is_right else ~right)
            small = self._histogram(flat[rows], node[rows], gr[rows], hr[rows], n_nodes, cells)
            other = hist - small
            children = np.empty((2, n_nodes, 2, cells))
            children[:, :, 1 if small_is_right else 0] = small.reshape(2, n_nodes, cells)
            children[:, :, 0 if small_is_right else 1] = other.reshape(2, n_nodes, cells)
            hist = children.reshape(2, -1)
            node = node * 2 + right
        return features, split_bins, node

    @staticmethod
    def _histogram(
        flat: np.ndarray, node: np.ndarray, g: np.ndarray, h: np.ndarray, n_nodes: int, cells: int
    ) -> np.ndarray:
        """(2, n_nodes * cells): gradient and hessian sums per (node, feature, bin)."""
        n_features = flat.shape[1]
        index = (flat + (node * cells)[:, None]).ravel()
        size = n_nodes * cells
        return np.stack([
            np.bincount(index, weights=np.repeat(g, n_features), minlength=size),
            np.bincount(index, weights=np.repeat(h, n_features), minlength=size),
        ])

    @staticmethod
    def _leaf_index(Xb: np.ndarray, features: np.ndarray, split_bins: np.ndarray) -> np.ndarray:
        leaf = np.zeros(Xb.shape[0], dtype=np.int32)
        for f, b in zip(features, split_bins):
            leaf = leaf * 2 + (Xb[:, f] > b)
        return leaf

    def logit(self, X: np.ndarray) -> np.ndarray:
        """Scores straight from the raw features: bin ``> b`` is the same test as
        ``x >= edges[b]`` (a bin code counts the edges at or below x), so no binning pass.
        ``X`` should be column-major (``features.feature_matrix``) for speed."""
        X = np.asfortranarray(X, dtype=np.float32)
        n_trees, depth = self.split_feature.shape if self.split_feature.ndim == 2 else (0, 0)
        thresholds = self.edges[self.split_feature, self.split_bin] if n_trees else np.zeros((0, 0), np.float32)
        z = np.full(X.shape[0], self.base)
        leaf = np.empty(X.shape[0], dtype=np.int32)
        for t in range(n_trees):
            leaf[:] = 0
            for level in range(depth):
                leaf *= 2
                leaf += X[:, self.split_feature[t, level]] >= thresholds[t, level]
            z += self.leaf_value[t][leaf]
        return z

    def predict(self, X: np.ndarray) -> np.ndarray:
        return expit(self.logit(X))

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}kind": np.array(self.kind),
            f"{prefix}edges": self.edges, f"{prefix}split_feature": self.split_feature,
            f"{prefix}split_bin": self.split_bin, f"{prefix}leaf_value": self.leaf_value,
            f"{prefix}base": np.array(self.base),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> "BoostedReranker":
        model = cls(
            edges=arrays[f"{prefix}edges"], split_feature=arrays[f"{prefix}split_feature"],
            split_bin=arrays[f"{prefix}split_bin"], leaf_value=arrays[f"{prefix}leaf_value"],
            base=float(arrays[f"{prefix}base"]),
        )
        model.depth = int(model.split_feature.shape[1]) if model.split_feature.ndim == 2 else 0
        return model


Reranker = LogisticReranker | BoostedReranker


def make_reranker(
    kind: str, l2: float, seed: int, trees: int = 80, depth: int = 5, learning_rate: float = 0.15,
    rows_per_tree: int = 32_768,
) -> Reranker:
    if kind == "logistic":
        return LogisticReranker(l2=l2)
    if kind == "boosted":
        return BoostedReranker(
            n_trees=trees, depth=depth, learning_rate=learning_rate, rows_per_tree=rows_per_tree, seed=seed
        )
    raise ValueError(f"unknown re-ranker {kind!r} (logistic or boosted)")


def reranker_from_arrays(arrays: dict[str, np.ndarray], prefix: str) -> Reranker:
    kind = str(arrays[f"{prefix}kind"])
    return (LogisticReranker if kind == "logistic" else BoostedReranker).from_arrays(arrays, prefix)


@dataclass
class Calibrator:
    """Platt scaling ``p' = sigmoid(a * logit(p) + b)``, fitted on a held-out window."""

    slope: float = 1.0
    offset: float = 0.0

    def fit(self, p: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> "Calibrator":
        p = np.clip(p, 1e-6, 1 - 1e-6)
        x = np.log(p / (1 - p))
        y = y.astype(np.float64)
        weight = np.ones_like(y) if weight is None else weight
        total = weight.sum()

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            z = w[0] * x + w[1]
            value = (weight * (np.logaddexp(0.0, z) - y * z)).sum() / total
            resid = weight * (expit(z) - y) / total
            return value, np.array([(resid * x).sum(), resid.sum()])

        if total > 0 and 0 < y.sum() < y.shape[0]:
            result = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
            self.slope, self.offset = float(result.x[0]), float(result.x[1])
        return self

    def apply(self, p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return expit(self.slope * np.log(p / (1 - p)) + self.offset)
