"""Many small xgboost boosters evaluated together in numpy, with xgboost's exact margins.

Why: a bootstrap ensemble holds 50-150 boosters of 100-200 shallow trees. Scoring one patient
with xgboost means one ``predict`` call per booster (~0.1-0.8 ms each, mostly call overhead),
i.e. 10-100 ms per request. Here every tree of every booster is flattened into node arrays
(read from the booster's own JSON model) and all trees are walked level by level at once: a
depth-3 forest of 10,000 trees scores one patient in well under a millisecond.

Exactness: xgboost compares float32 features with float32 thresholds (``x < split`` goes left,
missing follows the node's default direction) and sums leaf values in float32, tree by tree,
starting from the base margin. The same happens here (the sum is a float32 ``cumsum``, which is
sequential), so margins are bit-identical to ``booster.predict(X, output_margin=True)``; tests
check this on random data with NaNs. Large batches (where per-call overhead no longer matters)
go to xgboost's own ``inplace_predict``, which gives the same margins.
"""

from __future__ import annotations

import json

import numpy as np
import xgboost as xgb

# Objectives whose base_score is stored on the probability scale and mapped to a margin by a log
# (xgboost's ProbToMargin); identity for the others used here.
_LOG_BASE = {"survival:cox", "survival:aft", "count:poisson", "reg:gamma", "reg:tweedie"}
_IDENTITY_BASE = {"reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror"}

# Above this many (row x tree) evaluations per booster call, xgboost's C++ predictor is faster.
NUMPY_MAX_EVALS = 20_000
CHUNK_EVALS = 1_000_000  # rows per numpy chunk: bounded working memory


def _booster(model) -> xgb.Booster:
    return model.get_booster() if hasattr(model, "get_booster") else model


def _base_margin(learner: dict) -> np.float32:
    objective = learner["objective"]["name"]
    # stored as a float32 on the probability scale; xgboost maps it to a margin in float32
    base = np.float32(str(learner["learner_model_param"]["base_score"]).strip("[]"))
    if objective in _LOG_BASE:
        return np.log(base)
    if objective in _IDENTITY_BASE:
        return base
    raise ValueError(f"compiled trees: unsupported xgboost objective {objective!r}")


class CompiledForest:
    """The trees of ``boosters`` (xgboost Boosters or sklearn-API models) as flat node arrays.

    ``margins(X)`` is a (len(boosters), n) float32 array equal to each booster's
    ``predict(X, output_margin=True)``. Boosters may differ in tree count and feature count (each
    only reads the columns it was trained on). Numeric splits only (no categorical features).
    """

    def __init__(self, boosters: list):
        self.boosters = [_booster(b) for b in boosters]
        features, thresholds, children, values, roots, base = [], [], [], [], [], []
        owners: list[np.ndarray] = []
        self.n_features_ = 0
        self.max_depth_ = 0
        offset = 0
        for k, booster in enumerate(self.boosters):
            learner = json.loads(booster.save_raw("json"))["learner"]
            if int(learner["learner_model_param"].get("num_target", 1)) > 1 or int(
                learner["learner_model_param"].get("num_class", 0)
            ) > 1:
                raise ValueError("compiled trees: single-output boosters only")
            base.append(_base_margin(learner))
            self.n_features_ = max(self.n_features_,
                                   int(learner["learner_model_param"]["num_feature"]))
            for tree in learner["gradient_booster"]["model"]["trees"]:
                if any(tree.get("split_type", [])):
                    raise ValueError("compiled trees: categorical splits are not supported")
                left = np.asarray(tree["left_children"], dtype=np.int64)
                right = np.asarray(tree["right_children"], dtype=np.int64)
                leaf = left == -1
                node = np.arange(len(left))
                left = np.where(leaf, node, left) + offset  # leaves loop onto themselves
                right = np.where(leaf, node, right) + offset
                cond = np.asarray(tree["split_conditions"], dtype=np.float32)
                default_left = np.asarray(tree["default_left"], dtype=bool)
                feature = np.asarray(tree["split_indices"], dtype=np.int64)
                features.append(np.where(leaf, 0, feature))
                # missing goes to the default child: read it from a copy of X whose NaNs are
                # -inf (always left) or +inf (always right), chosen per node
                features[-1] = features[-1] * 2 + np.where(default_left, 1, 0)
                thresholds.append(np.where(leaf, np.float32(np.inf), cond))
                children.append(np.column_stack([right, left]))  # index 1 = "x < split": left
                values.append(np.where(leaf, cond, np.float32(0)))
                roots.append(offset)
                owners.append(k)
                self.max_depth_ = max(self.max_depth_, _depth(left - offset, right - offset))
                offset += len(left)
        self.column_ = np.concatenate(features) if features else np.zeros(0, np.int64)
        self.threshold_ = np.concatenate(thresholds) if thresholds else np.zeros(0, np.float32)
        self.child_ = (np.concatenate(children) if children else np.zeros((0, 2), np.int64)).ravel()
        self.value_ = np.concatenate(values) if values else np.zeros(0, np.float32)
        self.base_margin_ = np.asarray(base, dtype=np.float32)
        # trees grouped per booster, padded with a zero tree so every booster has as many trees as
        # the largest one (adding 0.0 in float32 leaves a sum unchanged)
        owners_arr = np.asarray(owners, dtype=np.int64)
        roots_arr = np.asarray(roots, dtype=np.int64)
        counts = np.bincount(owners_arr, minlength=len(self.boosters))
        width = int(counts.max()) if len(counts) else 0
        slots = np.full((len(self.boosters), width), -1, dtype=np.int64)
        for k in range(len(self.boosters)):
            slots[k, : counts[k]] = roots_arr[owners_arr == k]
        self.n_trees_ = counts
        self._slot_root = slots
        pad = slots < 0
        if pad.any():  # one shared zero-valued leaf for the padding
            zero = len(self.value_)
            self.column_ = np.append(self.column_, 0)
            self.threshold_ = np.append(self.threshold_, np.float32(np.inf))
            self.child_ = np.append(self.child_, [zero, zero])
            self.value_ = np.append(self.value_, np.float32(0))
            slots[pad] = zero
        self.roots_ = slots.ravel()

    def margins(self, X: np.ndarray) -> np.ndarray:
        """(n_boosters, n) float32 margins, equal to each booster's output_margin prediction."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] < self.n_features_:
            raise ValueError(f"X must have at least {self.n_features_} columns; got {X.shape}")
        n = len(X)
        if n * int(self.n_trees_.max(initial=0)) > NUMPY_MAX_EVALS:
            return self._xgboost_margins(X)
        out = np.empty((len(self.boosters), n), dtype=np.float32)
        rows = max(1, CHUNK_EVALS // max(len(self.roots_), 1))
        for start in range(0, n, rows):
            out[:, start:start + rows] = self._numpy_margins(X[start:start + rows])
        return out

    def _numpy_margins(self, X: np.ndarray) -> np.ndarray:
        n = len(X)
        x32 = X[:, : self.n_features_].astype(np.float32)
        missing = np.isnan(x32)
        # column 2j: NaN -> +inf (goes right), column 2j+1: NaN -> -inf (goes left)
        both = np.empty((n, 2 * self.n_features_), dtype=np.float32)
        both[:, 0::2] = np.where(missing, np.float32(np.inf), x32)
        both[:, 1::2] = np.where(missing, np.float32(-np.inf), x32)
        flat = both.ravel()
        row_offset = (np.arange(n, dtype=np.int64) * (2 * self.n_features_))[:, None]
        node = np.broadcast_to(self.roots_, (n, len(self.roots_)))
        for _ in range(self.max_depth_):
            goes_left = flat[row_offset + self.column_[node]] < self.threshold_[node]
            node = self.child_[2 * node + goes_left]
        leaves = self.value_[node].reshape(n, len(self.boosters), -1)
        # xgboost's order: base margin, then tree 0, 1, ... summed in float32
        start = np.broadcast_to(self.base_margin_[None, :, None], (n, len(self.boosters), 1))
        total = np.cumsum(np.concatenate([start, leaves], axis=2), axis=2, dtype=np.float32)
        return total[:, :, -1].T

    def _xgboost_margins(self, X: np.ndarray) -> np.ndarray:
        return np.stack([
            b.inplace_predict(X[:, : int(b.num_features())], predict_type="margin",
                              missing=np.nan).astype(np.float32, copy=False)
            for b in self.boosters
        ])

    def __reduce__(self):  # a cache: pickled as its boosters, rebuilt on load
        return (CompiledForest, (self.boosters,))


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Depth of one tree given self-looping leaves (0 for a single leaf)."""
    depth, frontier = 0, np.array([0])
    while True:
        nxt = np.concatenate([left[frontier], right[frontier]])
        nxt = nxt[nxt != np.concatenate([frontier, frontier])]
        if not len(nxt):
            return depth
        depth, frontier = depth + 1, np.unique(nxt)
