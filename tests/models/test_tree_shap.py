"""The table-based TreeSHAP gives xgboost's own pred_contribs (SYNTHETIC data)."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from models.tree_shap import MAX_DEPTH, TreeExplainer


def _data(rng, n, p, nan_rate=0.25):
    X = rng.normal(size=(n, p))
    X[rng.random((n, p)) < nan_rate] = np.nan
    return X


def _trees(booster):
    return json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]


def _leaf_depths(tree):
    """Depth of every leaf of one xgboost JSON tree."""
    out, stack = [], [(0, 0)]
    while stack:
        node, depth = stack.pop()
        if tree["left_children"][node] == -1:
            out.append(depth)
        else:
            stack += [(tree["left_children"][node], depth + 1),
                      (tree["right_children"][node], depth + 1)]
    return out


def _repeats_a_feature(tree):
    """Whether some root-to-leaf path splits twice on the same feature."""
    stack = [(0, ())]
    while stack:
        node, seen = stack.pop()
        if tree["left_children"][node] == -1:
            continue
        f = tree["split_indices"][node]
        if f in seen:
            return True
        stack += [(c, (*seen, f)) for c in (tree["left_children"][node],
                                            tree["right_children"][node])]
    return False


def _train(params, X, y, rounds):
    base = {"eta": 0.3, "subsample": 0.8, "nthread": 1, "seed": 0}
    return xgb.train({**base, **params}, xgb.DMatrix(X, label=y, missing=np.nan), rounds)


def _test_rows(rng, booster, p):
    """Random rows with NaNs, an all-missing row, and rows sitting exactly on split thresholds
    (x == split goes right) or just below them in float64 (rounds to the float32 split)."""
    X = _data(rng, 200, p, nan_rate=0.3) * 1.5
    X[0] = np.nan
    tree = _trees(booster)[0]
    internal = [k for k, c in enumerate(tree["left_children"]) if c != -1]
    for i, k in enumerate(internal[:10]):
        split = np.float32(tree["split_conditions"][k])
        X[1 + 2 * i, tree["split_indices"][k]] = split
        X[2 + 2 * i, tree["split_indices"][k]] = np.nextafter(float(split), -np.inf)
    return X


def _assert_equals_xgboost(booster, X):
    explainer = TreeExplainer(booster)
    reference = booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)
    got = explainer.shap_values(X)
    assert got.shape == (len(X), X.shape[1])
    scale = np.abs(reference).max()
    np.testing.assert_allclose(got, reference[:, :-1], rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(explainer.expected_value_, reference[:, -1], rtol=1e-6,
                               atol=1e-6 * scale)
    margin = booster.predict(xgb.DMatrix(X, missing=np.nan), output_margin=True)
    np.testing.assert_allclose(got.sum(axis=1) + explainer.expected_value_, margin,
                               rtol=1e-5, atol=1e-5 * scale)
    return explainer


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, MAX_DEPTH])
def test_squared_error_equals_pred_contribs(depth):
    rng = np.random.default_rng(depth)
    p = 8
    X = _data(rng, 400, p)
    y = np.nansum(X[:, :4], axis=1) + np.nan_to_num(X[:, 4] * X[:, 5]) + rng.normal(size=400)
    rounds = 40 if depth <= 3 else 15
    booster = _train({"max_depth": depth}, X, y, rounds)
    assert max(max(_leaf_depths(t)) for t in _trees(booster)) == depth
    explainer = _assert_equals_xgboost(booster, _test_rows(rng, booster, p))
    assert explainer.depth_ == depth


def test_cox_margin_equals_pred_contribs():
    rng = np.random.default_rng(10)
    X = _data(rng, 300, 6)
    time = rng.exponential(10, 300) * np.exp(-0.5 * np.nan_to_num(X[:, 0]))
    label = np.where(rng.random(300) < 0.7, time, -time)  # negative = censored
    booster = _train({"objective": "survival:cox", "max_depth": 3, "eta": 0.1}, X, label, 60)
    explainer = _assert_equals_xgboost(booster, _test_rows(rng, booster, 6))
    assert explainer.expected_value_ != 0


def test_pruned_trees_and_repeated_features_on_a_path():
    rng = np.random.default_rng(11)
    X = _data(rng, 400, 2, nan_rate=0.15)  # two features: depth-3 paths must repeat them
    y = np.sin(2 * np.nan_to_num(X[:, 0])) + np.nan_to_num(X[:, 1]) ** 2 + rng.normal(size=400)
    booster = _train({"max_depth": 3, "gamma": 0.3, "min_child_weight": 20}, X, y, 60)
    trees = _trees(booster)
    assert any(min(_leaf_depths(t)) < 3 for t in trees)  # pruned below the maximum depth
    assert any(max(_leaf_depths(t)) == 3 for t in trees)
    assert any(_repeats_a_feature(t) for t in trees)
    _assert_equals_xgboost(booster, _test_rows(rng, booster, 2))


def test_single_leaf_trees_give_the_bias_only():
    rng = np.random.default_rng(12)
    X = _data(rng, 100, 3)
    booster = _train({"max_depth": 2, "gamma": 1e9}, X, rng.normal(3.0, 1.0, 100), 5)
    assert all(len(t["left_children"]) == 1 for t in _trees(booster))
    explainer = _assert_equals_xgboost(booster, X)
    assert not explainer.shap_values(X).any()


def test_refuses_what_it_cannot_explain():
    rng = np.random.default_rng(13)
    X = _data(rng, 300, 4, nan_rate=0.0)
    too_deep = _train({"max_depth": MAX_DEPTH + 1, "min_child_weight": 0, "subsample": 1.0},
                      X, rng.normal(size=300), 2)
    with pytest.raises(ValueError, match=f"depth {MAX_DEPTH + 1}; at most {MAX_DEPTH}"):
        TreeExplainer(too_deep)

    multi = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 2,
                       "nthread": 1}, xgb.DMatrix(X, label=rng.integers(0, 3, 300)), 2)
    with pytest.raises(ValueError, match="multi-output"):
        TreeExplainer(multi)

    frame = pd.DataFrame({"a": X[:, 0], "b": pd.Categorical(rng.choice(["u", "v", "w"], 300))})
    y = X[:, 0] + (frame["b"] == "v") * 3.0
    categorical = xgb.train({"max_depth": 2, "nthread": 1, "tree_method": "hist"},
                            xgb.DMatrix(frame, label=y, enable_categorical=True), 3)
    with pytest.raises(ValueError, match="categorical splits"):
        TreeExplainer(categorical)

    linear = xgb.train({"booster": "gblinear", "nthread": 1}, xgb.DMatrix(X, label=X[:, 0]), 2)
    with pytest.raises(ValueError, match="'gbtree'"):
        TreeExplainer(linear)

    explainer = TreeExplainer(_train({"max_depth": 2}, X, X[:, 0], 3))
    with pytest.raises(ValueError, match="4 columns"):
        explainer.shap_values(X[:, :3])


def test_survives_pickling():
    rng = np.random.default_rng(14)
    X = _data(rng, 200, 5)
    booster = _train({"max_depth": 3}, X, np.nansum(X, axis=1), 20)
    explainer = TreeExplainer(booster)
    restored = pickle.loads(pickle.dumps(explainer))
    rows = _data(rng, 50, 5)
    np.testing.assert_array_equal(restored.shap_values(rows), explainer.shap_values(rows))
    assert restored.expected_value_ == explainer.expected_value_
    assert len(pickle.dumps(explainer)) < 2 * len(pickle.dumps(booster))  # tables not pickled
