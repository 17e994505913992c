"""Exact path-dependent TreeSHAP of a shallow xgboost booster, by table look-up.

Why: the server explains every prediction with TreeSHAP on a depth-3, 200-tree surrogate.
``booster.predict(DMatrix, pred_contribs=True)`` costs ~0.6 ms for one patient (mostly DMatrix
and call overhead) and ~110 ms for 1,000; the tables here take ~0.04 ms and ~4 ms (200
depth-3 trees, 56 features, one core; built in ~0.1 s).

How: in a tree of depth <= D, TreeSHAP's value for a row depends on the row only through the
decisions (left/right) at the tree's internal nodes. Each tree is laid out as a complete binary
tree of depth D (a leaf above depth D becomes a "pass-through" node sending everything left), so
a row's decisions form a small integer, its *pattern*. At build time, for every tree and every
pattern, the exact Shapley values of the path-dependent game are computed (Lundberg et al. 2020,
"From local explanations to global understanding with explainable AI for trees", Nat. Mach.
Intell. 2:56-67, Algorithm 1): v(S) follows the row's decision at a node whose feature is in S
and otherwise averages the children weighted by their cover (xgboost's ``sum_hessian``); a
feature repeated along a path is one player. v is evaluated for all (pattern, subset) pairs
bottom-up over the nodes, then multiplied by the Shapley weight matrix. Predicting is then: the
row's pattern per tree (one float32 comparison per node), one table row per tree, a sum per
feature.

Deeper trees (D = 4..MAX_DEPTH) would need 2^(2^D - 1) patterns per tree. They are cut into
blocks instead: the leaves under each node at depth t = D - 2 form a block whose game involves
only the t ancestors and the block's own depth-2 subtree (the other leaves contribute 0).
Shapley values are linear in the game, so a tree's values are the sum of its blocks' values,
and each block has D + 1 nodes, i.e. at most 2^7 patterns.

Exactness: decisions are float32 comparisons as in xgboost (``x < split`` goes left, NaN follows
the node's default direction); the tables are computed in float64, so the values equal xgboost's
float32 ``pred_contribs`` to float32 rounding (tests check this on random data with NaNs).
"""

from __future__ import annotations

import json
from math import factorial

import numpy as np
import scipy.sparse
import xgboost as xgb

from models.compiled_trees import split_on_missing, tree_depth

MAX_DEPTH = 6
# Largest (blocks x patterns x subsets) array evaluated at once while building: bounds memory.
_BUILD_CHUNK = 1 << 20
# Table values gathered per predict chunk (~2 MB of float64): keeps the working set in cache,
# which is ~2.5x faster than one pass over 1,000 rows.
_PREDICT_CHUNK = 1 << 18


def _block_depth(depth: int) -> int:
    """Depth t of the block roots: one block (t = 0) up to depth 3, else subtrees of depth 2.

    A block has t + 2^(depth - t) - 1 nodes, so at most 7 (depth <= 3) or depth + 1 (deeper).
    """
    return 0 if depth <= 3 else depth - 2


class TreeExplainer:
    """Exact path-dependent TreeSHAP of one xgboost Booster (depth <= MAX_DEPTH), table-based.

    ``shap_values(X)`` equals ``booster.predict(DMatrix(X), pred_contribs=True)[:, :-1]`` and
    ``expected_value_`` its last (bias) column; values + bias = the margin prediction.
    Single-output tree boosters with numeric splits only.
    """

    def __init__(self, booster: xgb.Booster):
        self.booster = booster
        learner = json.loads(booster.save_raw("json"))["learner"]
        params = learner["learner_model_param"]
        if int(params.get("num_target", 1)) > 1 or int(params.get("num_class", 0)) > 1:
            raise ValueError("TreeExplainer: multi-output boosters are not supported "
                             f"(num_target={params.get('num_target')}, "
                             f"num_class={params.get('num_class')})")
        gbm = learner["gradient_booster"]
        if gbm["name"] != "gbtree":
            raise ValueError(f"TreeExplainer: only 'gbtree' boosters are supported, "
                             f"got {gbm['name']!r}")
        trees = gbm["model"]["trees"]
        for k, tree in enumerate(trees):
            if any(tree.get("split_type", [])):
                raise ValueError(f"TreeExplainer: tree {k} has categorical splits, "
                                 "which are not supported")
            if int(tree["tree_param"].get("size_leaf_vector", 1)) > 1:
                raise ValueError(f"TreeExplainer: tree {k} has vector leaves "
                                 "(multi-output), which are not supported")
        self.n_features_ = int(booster.num_features())
        depths = [tree_depth(t) for t in trees]
        depth = max(depths, default=0)
        if depth > MAX_DEPTH:
            k = int(np.argmax(depths))
            raise ValueError(f"TreeExplainer: tree {k} has depth {depth}; at most {MAX_DEPTH} "
                             "is supported (use shap.TreeExplainer or pred_contribs instead)")
        self.depth_ = max(depth, 1)
        self._build(trees, self._base_margin(trees))

    # --- build -----------------------------------------------------------------------------
    def _base_margin(self, trees: list[dict]) -> float:
        """The booster's base margin, read from xgboost itself (objective-independent).

        An all-missing row follows every tree's default path; its margin minus those leaves is
        the base margin (xgboost maps ``base_score`` to the margin scale per objective).
        """
        x = np.full((1, self.n_features_), np.nan, dtype=np.float32)
        margin = float(self.booster.inplace_predict(x, predict_type="margin", missing=np.nan)[0])
        leaves = 0.0
        for tree in trees:
            node = 0
            while tree["left_children"][node] != -1:
                node = (tree["left_children"][node] if tree["default_left"][node]
                        else tree["right_children"][node])
            leaves += float(np.float32(tree["split_conditions"][node]))
        return margin - leaves

    def _build(self, trees: list[dict], base: float) -> None:
        D = self.depth_
        t = _block_depth(D)
        s = D - t  # depth of each block's own subtree
        n_nodes = 2**D - 1
        # complete-tree (heap) layout of every tree: node h has children 2h+1, 2h+2
        T = len(trees)
        feature = np.full((T, n_nodes), -1, dtype=np.int64)  # -1: pass-through node
        column = np.zeros((T, n_nodes), dtype=np.int64)
        threshold = np.full((T, n_nodes), np.inf, dtype=np.float32)
        w_left = np.ones((T, n_nodes))  # pass-through nodes send everything left
        w_right = np.zeros((T, n_nodes))
        leaf_value = np.zeros((T, 2**D))
        for k, tree in enumerate(trees):
            _layout(tree, D, feature[k], column[k], threshold[k], w_left[k], w_right[k],
                    leaf_value[k])

        # blocks: ancestors (depths 0..t-1) then the subtree's internal nodes in heap order
        n_blocks = 2**t
        m = t + 2**s - 1
        nodes = np.empty((n_blocks, m), dtype=np.int64)
        toward_left = np.zeros((n_blocks, max(t, 1)), dtype=bool)
        for b in range(n_blocks):
            root = 2**t - 1 + b
            path, h = [], root
            while h > 0:
                parent = (h - 1) // 2
                path.append((parent, h == 2 * parent + 1))
                h = parent
            path.reverse()
            nodes[b, :t] = [p for p, _ in path]
            toward_left[b, :t] = [left for _, left in path]
            nodes[b, t:] = _subtree_heap(root, s)
        # (n_blocks, 2^s) positions of each block's leaves among the 2^D leaves
        leaves = np.array([_subtree_leaves(2**t - 1 + b, s) for b in range(n_blocks)]) - n_nodes

        # per (tree, block): node features -> players 0..K-1 (K = "not a feature")
        blk_feature = feature[:, nodes].reshape(T * n_blocks, m)
        K = max(1, max((len(np.unique(r[r >= 0])) for r in blk_feature), default=1))
        player = np.full(blk_feature.shape, K, dtype=np.int64)
        players = np.full((T * n_blocks, K), self.n_features_, dtype=np.int64)
        for i, row in enumerate(blk_feature):
            distinct = np.unique(row[row >= 0])
            players[i, : len(distinct)] = distinct
            player[i] = np.where(row >= 0, np.searchsorted(distinct, row), K)

        self._m = m
        self._n_patterns = 2**m
        self._column = column[:, nodes].reshape(-1)  # (T * n_blocks * m,)
        self._threshold = threshold[:, nodes].reshape(-1)
        table, empty_value = _block_tables(
            player, w_left[:, nodes].reshape(-1, m), w_right[:, nodes].reshape(-1, m),
            np.broadcast_to(toward_left, (T, *toward_left.shape)).reshape(-1, toward_left.shape[1]),
            leaf_value[:, leaves].reshape(T * n_blocks, 2**s), t, s, K)
        self._table = table.reshape(-1, K)  # row = block * n_patterns + pattern
        self._n_blocks = T * n_blocks
        self._block_offset = np.arange(self._n_blocks, dtype=np.int64) * self._n_patterns
        self.expected_value_ = float(base + empty_value.sum())
        self._bit_value = (2.0 ** np.arange(m)).astype(np.float32)
        # (block, player) -> feature as a sparse 0/1 matrix: values = gathered rows @ it
        slot_feature = players.reshape(-1)
        real = slot_feature < self.n_features_
        self._to_feature = scipy.sparse.csr_matrix(
            (np.ones(real.sum()), (np.flatnonzero(real), slot_feature[real])),
            shape=(len(slot_feature), self.n_features_))

    # --- predict ---------------------------------------------------------------------------
    def shap_values(self, X: np.ndarray) -> np.ndarray:
        """(n, n_features) SHAP values of the margin; NaN = missing."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_:
            raise ValueError(f"TreeExplainer: X must be 2-D with {self.n_features_} columns "
                             f"(the booster's features); got shape {X.shape}")
        out = np.empty((len(X), self.n_features_))
        rows = max(1, _PREDICT_CHUNK // max(self._to_feature.shape[0], 1))
        for start in range(0, len(X), rows):
            out[start:start + rows] = self._shap_values(X[start:start + rows])
        return out

    def _shap_values(self, X: np.ndarray) -> np.ndarray:
        n = len(X)
        both = split_on_missing(X)  # column 2j + default_left: NaN takes the default child
        goes_left = np.take(both, self._column, axis=1) < self._threshold
        # pattern = sum_j goes_left_j 2^j (exact in float32: m <= 7 bits)
        bits = goes_left.reshape(n, self._n_blocks, self._m).astype(np.float32)
        pattern = bits @ self._bit_value
        table_rows = self._block_offset + pattern.astype(np.int64)
        contrib = np.take(self._table, table_rows, axis=0).reshape(n, self._to_feature.shape[0])
        return np.asarray(contrib @ self._to_feature)

    def __reduce__(self):  # tables are a cache: pickled as the booster, rebuilt on load
        return (TreeExplainer, (self.booster,))



def _layout(tree, D, feature, column, threshold, w_left, w_right, leaf_value) -> None:
    """Fill one tree's complete-tree arrays (heap order); leaves above depth D pass through."""
    left, right = tree["left_children"], tree["right_children"]
    cond, cover = tree["split_conditions"], tree["sum_hessian"]
    index, default_left = tree["split_indices"], tree["default_left"]
    n_internal = 2**D - 1
    stack = [(0, 0)]  # (heap position, xgboost node)
    while stack:
        h, node = stack.pop()
        if h >= n_internal:
            leaf_value[h - n_internal] = np.float32(cond[node])
            continue
        if left[node] == -1:  # leaf above depth D: both children are copies of it
            stack += [(2 * h + 1, node), (2 * h + 2, node)]
            continue
        feature[h] = index[node]
        column[h] = 2 * index[node] + (1 if default_left[node] else 0)
        threshold[h] = np.float32(cond[node])
        # cover fractions child / node, as xgboost's TreeSHAP (not child / sum of children)
        with np.errstate(divide="ignore", invalid="ignore"):
            w_left[h], w_right[h] = (np.float64(np.float32(cover[c])) / np.float32(cover[node])
                                     for c in (left[node], right[node]))
        stack += [(2 * h + 1, left[node]), (2 * h + 2, right[node])]


def _subtree_heap(root: int, s: int) -> list[int]:
    """Internal nodes of the depth-s subtree under ``root``, level by level, left to right."""
    out, level = [], [root]
    for _ in range(s):
        out += level
        level = [c for h in level for c in (2 * h + 1, 2 * h + 2)]
    return out


def _subtree_leaves(root: int, s: int) -> list[int]:
    level = [root]
    for _ in range(s):
        level = [c for h in level for c in (2 * h + 1, 2 * h + 2)]
    return level


def _shapley_matrix(K: int) -> np.ndarray:
    """(2^K, K) matrix M with phi = v @ M for a game v over the 2^K subsets (bit i = player i).

    phi_i = sum over S without i of |S|! (K-|S|-1)! / K! * (v(S + i) - v(S)).
    """
    S = np.arange(2**K)
    member = (S[:, None] >> np.arange(K)) & 1
    size = member.sum(1)
    w = np.array([factorial(k) * factorial(K - k - 1) / factorial(K) for k in range(K)] + [0.0])
    return np.where(member == 1, w[np.maximum(size - 1, 0)][:, None], -w[size][:, None])


def _block_tables(player, w_left, w_right, toward_left, leaf, t, s, K):
    """Shapley values per (block, pattern, player) and each block's v(empty set).

    player, w_left, w_right: (B, m) per block node (ancestors first, then the subtree in heap
    order); toward_left: (B, t) the ancestor's edge towards the block; leaf: (B, 2^s).
    """
    B, m = player.shape
    P, Q = 2**m, 2**K
    bits = ((np.arange(P)[:, None] >> np.arange(m)) & 1).astype(bool)  # (P, m) goes left
    in_s = np.zeros((Q, K + 1), dtype=bool)  # player K (pass-through) is never in S
    in_s[:, :K] = (np.arange(Q)[:, None] >> np.arange(K)) & 1
    shapley = _shapley_matrix(K)
    table = np.empty((B, P, K))
    empty = np.empty(B)
    chunk = max(1, _BUILD_CHUNK // (P * Q * 2 ** max(s - 1, 0)))
    for lo in range(0, B, chunk):
        sl = slice(lo, min(B, lo + chunk))
        v = leaf[sl][:, :, None, None]  # (b, nodes in level, P or 1, Q or 1)
        for level in range(s - 1, -1, -1):  # subtree, bottom-up, all nodes of a level at once
            j = t + np.arange(2**level - 1, 2 ** (level + 1) - 1)
            inS = in_s[:, player[sl][:, j]].transpose(1, 2, 0)[:, :, None, :]  # (b, L, 1, Q)
            go_left = bits[:, j].T[None, :, :, None]  # (1, L, P, 1)
            vl, vr = v[:, 0::2], v[:, 1::2]
            followed = np.where(go_left, vl, vr)
            averaged = (w_left[sl][:, j, None, None] * vl + w_right[sl][:, j, None, None] * vr)
            v = np.where(inS, followed, averaged)
        v = v[:, 0]  # (b, P, Q)
        for d in range(t - 1, -1, -1):  # ancestors, from the block root upwards
            inS = in_s[:, player[sl][:, d]].T[:, None, :]  # (b, 1, Q)
            toward = toward_left[sl][:, d, None, None]
            agrees = bits[:, d][None, :, None] == toward  # (b, P, 1)
            weight = np.where(toward, w_left[sl][:, d, None, None], w_right[sl][:, d, None, None])
            v = v * np.where(inS, agrees, weight)
        v = np.broadcast_to(v, (v.shape[0], P, Q))
        table[sl] = v @ shapley
        empty[sl] = v[:, 0, 0]
    return table, empty
