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
    seed: int = 0
    edges: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (features, bins-1)
    split_feature: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))  # (trees, depth)
    split_bin: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint8))
    leaf_value: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (trees, 2**depth)
    base: float = 0.0

    kind = "boosted"

    def _binned(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape, dtype=np.uint8)
        for j in range(X.shape[1]):
            out[:, j] = np.searchsorted(self.edges[j], X[:, j], side="right")
        return out

    def fit(self, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> "BoostedReranker":
        rng = np.random.default_rng(self.seed)
        n, n_features = X.shape
        y = y.astype(np.float64)
        weight = np.ones(n) if weight is None else weight.astype(np.float64)
        bins = self.n_bins
        sample = rng.choice(n, size=min(n, 100_000), replace=False) if n else np.zeros(0, int)
        quantiles = np.linspace(0, 1, bins + 1)[1:-1]
        edges = np.full((n_features, bins - 1), np.inf, dtype=np.float32)
        for j in range(n_features):
            cuts = np.unique(np.quantile(X[sample, j], quantiles)) if n else np.zeros(0)
            edges[j, : cuts.shape[0]] = cuts
        self.edges = edges
        Xb = self._binned(X)
        base = np.clip(np.average(y, weights=weight), 1e-6, 1 - 1e-6)
        self.base = float(np.log(base / (1 - base)))
        z = np.full(n, self.base)
        offsets = (np.arange(n_features, dtype=np.int64) * bins)[None, :]
        features = np.zeros((self.n_trees, self.depth), dtype=np.int32)
        split_bins = np.zeros((self.n_trees, self.depth), dtype=np.uint8)
        leaves = np.zeros((self.n_trees, 1 << self.depth))
        for t in range(self.n_trees):
            p = expit(z)
            grad = (p - y) * weight
            hess = np.maximum(p * (1 - p), 1e-6) * weight
            rows = np.flatnonzero(rng.random(n) < self.row_sample)
            Xr, gr, hr = Xb[rows], grad[rows], hess[rows]
            node = np.zeros(rows.shape[0], dtype=np.int64)
            for level in range(self.depth):
                n_nodes = 1 << level
                index = (node[:, None] * (n_features * bins) + offsets + Xr).ravel()
                size = n_nodes * n_features * bins
                G = np.bincount(index, weights=np.repeat(gr, n_features), minlength=size)
                Hs = np.bincount(index, weights=np.repeat(hr, n_features), minlength=size)
                G = np.cumsum(G.reshape(n_nodes, n_features, bins), axis=2)
                Hs = np.cumsum(Hs.reshape(n_nodes, n_features, bins), axis=2)
                g_all, h_all = G[:, :, -1:], Hs[:, :, -1:]
                g_right, h_right = g_all - G, h_all - Hs
                gain = G**2 / (Hs + self.l2) + g_right**2 / (h_right + self.l2) - g_all**2 / (h_all + self.l2)
                gain = np.where((Hs < self.min_hessian) | (h_right < self.min_hessian), 0.0, gain)
                total = gain.sum(axis=0)
                f, b = np.unravel_index(int(np.argmax(total)), total.shape)
                features[t, level], split_bins[t, level] = f, b
                node = node * 2 + (Xr[:, f] > b)
            n_leaves = 1 << self.depth
            g_leaf = np.bincount(node, weights=gr, minlength=n_leaves)
            h_leaf = np.bincount(node, weights=hr, minlength=n_leaves)
            leaves[t] = -g_leaf / (h_leaf + self.l2) * self.learning_rate
            z += leaves[t][self._leaf_index(Xb, features[t], split_bins[t])]
        self.split_feature, self.split_bin, self.leaf_value = features, split_bins, leaves
        return self

    @staticmethod
    def _leaf_index(Xb: np.ndarray, features: np.ndarray, split_bins: np.ndarray) -> np.ndarray:
        leaf = np.zeros(Xb.shape[0], dtype=np.int64)
        for f, b in zip(features, split_bins):
            leaf = leaf * 2 + (Xb[:, f] > b)
        return leaf

    def logit(self, X: np.ndarray) -> np.ndarray:
        Xb = self._binned(X)
        z = np.full(X.shape[0], self.base)
        for t in range(self.split_feature.shape[0]):
            z += self.leaf_value[t][self._leaf_index(Xb, self.split_feature[t], self.split_bin[t])]
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


def make_reranker(kind: str, l2: float, seed: int) -> Reranker:
    if kind == "logistic":
        return LogisticReranker(l2=l2)
    if kind == "boosted":
        return BoostedReranker(seed=seed)
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
