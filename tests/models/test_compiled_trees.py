"""Compiled trees give xgboost's own margins, and the ensemble's all-members-at-once path gives
the member-by-member predictions (SYNTHETIC data)."""

import pickle

import numpy as np
import pytest
import xgboost as xgb

import models.compiled_trees as compiled_trees
from models import BENEFIT_GRID_MONTHS, make_learner
from models.compiled_trees import CompiledForest
from models.survival import cox_survival


@pytest.fixture(scope="module")
def boosters():
    rng = np.random.default_rng(0)
    n, p = 300, 8
    X = rng.normal(size=(n, p))
    X[rng.random((n, p)) < 0.2] = np.nan
    time, event = rng.exponential(10, n), rng.random(n) < 0.7
    label = np.where(event, time, -time)
    out = [
        xgb.XGBRegressor(objective="survival:cox", tree_method="hist", nthread=1,
                         n_estimators=k, max_depth=d, learning_rate=0.05, subsample=0.8,
                         random_state=k).fit(X[:, : p - drop], label)
        for k, d, drop in [(120, 3, 0), (80, 2, 1), (30, 4, 0)]
    ]
    out.append(xgb.XGBRegressor(n_estimators=60, max_depth=2, nthread=1)
               .fit(X, rng.normal(2.0, 1.0, n)))  # squared error: base score = mean
    return out


def _random_X(rng, n, p=8):
    X = rng.normal(size=(n, p)) * 1.5
    X[rng.random((n, p)) < 0.3] = np.nan
    return X


@pytest.mark.parametrize(("depths", "select_min_rows"),
                         [("<=3", 1), ("<=3", 10**9), ("4", 1)])
def test_margins_equal_xgboost(boosters, depths, select_min_rows, monkeypatch):
    """Depth <= 3 forests: the select kernel (or the walk, below SELECT_MIN_ROWS); deeper: walk."""
    monkeypatch.setattr(compiled_trees, "SELECT_MIN_ROWS", select_min_rows)
    boosters = [b for b in boosters if depths == "4" or b.max_depth <= 3]
    X = _random_X(np.random.default_rng(1), 400)
    X[0, :] = np.nan  # every split takes its default direction
    forest = CompiledForest(boosters)
    reference = np.stack([b.predict(X[:, : b.n_features_in_], output_margin=True)
                          for b in boosters])
    got = forest.margins(X)
    assert got.shape == (len(boosters), len(X)) and got.dtype == np.float32
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-6)
    assert np.mean(got == reference) > 0.99  # same float32 arithmetic: nearly always bit-equal


def test_pruned_trees_and_stumps_fill_the_complete_layout():
    """Leaves above the forest's depth (pruned branches, single-leaf trees) give their value
    wherever a row ends up below them."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    deep = xgb.XGBRegressor(n_estimators=20, max_depth=5, nthread=1, min_child_weight=30,
                            random_state=0).fit(X, X[:, 0] + rng.normal(size=200))
    stump = xgb.XGBRegressor(n_estimators=3, max_depth=1, nthread=1, learning_rate=0.0,
                             random_state=0).fit(X, np.ones(200))
    forest = CompiledForest([deep, stump])
    Z = _random_X(rng, 300, p=3)
    np.testing.assert_array_equal(forest.margins(Z)[0], deep.predict(Z, output_margin=True))
    np.testing.assert_array_equal(forest.margins(Z)[1], stump.predict(Z, output_margin=True))


def test_forest_survives_pickling_and_refuses_narrow_input(boosters):
    forest = pickle.loads(pickle.dumps(CompiledForest(boosters[:2])))
    X = _random_X(np.random.default_rng(2), 3)
    np.testing.assert_allclose(forest.margins(X)[0],
                               boosters[0].predict(X, output_margin=True), atol=1e-6)
    with pytest.raises(ValueError, match="at least 8 columns"):
        forest.margins(X[:, :3])


def _reference_draws(model, X, times):
    """Member by member with xgboost's own predict (S/T) or the learner's own curves (risk)."""
    grid = np.concatenate([BENEFIT_GRID_MONTHS, times])
    curves = []
    for m in model.members_:
        Xa = X[m.feature_names_in_].to_numpy(dtype=float)
        if hasattr(m, "models_"):  # T-learner
            fits = [(m.models_[a], Xa) for a in (0, 1)]
        elif hasattr(m, "model_"):  # S-learner: arm as the last column
            fits = [(m.model_, np.column_stack([Xa, np.full(len(Xa), a)])) for a in (0, 1)]
        else:
            curves.append(m.predict_survival(X, grid))
            continue
        curves.append(tuple(
            cox_survival(fit.knots, fit.cumhaz,
                         fit.booster.predict(Z, output_margin=True), grid)
            for fit, Z in fits
        ))
    return curves


@pytest.mark.parametrize("name", ["s", "t", "risk"])
def test_stacked_ensemble_equals_member_by_member(name, small_trial):
    Y, T, X, _ = small_trial
    model = make_learner(name, n_bootstrap=6, n_jobs=1, random_state=4).fit(Y, T, X)
    assert model._stackable()
    times = np.array([3.0, 6.0, 18.0])
    k = len(BENEFIT_GRID_MONTHS)
    reference = _reference_draws(model, X.iloc[:40], times)
    s0, s1 = model.predict_survival(X.iloc[:40], times)
    np.testing.assert_allclose(s0, np.mean([c[0][:, k:] for c in reference], axis=0), atol=1e-6)
    np.testing.assert_allclose(s1, np.mean([c[1][:, k:] for c in reference], axis=0), atol=1e-6)
    # the fast path and the generic member loop give the same table
    fast = model.predict(X.iloc[:40]).to_frame()
    loop = model._member_draws_loop(X.iloc[:40], np.array([6.0, 12.0]))
    stacked = model._member_draws_stacked(X.iloc[:40], np.array([6.0, 12.0]))
    for a, b in zip(loop[:2], stacked[:2], strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    for e in loop[2]:  # the RMST comes from RmstTable's interpolation: within 1e-9 months
        atol = 1e-9 if e == "rmst_gain_12mo" else 1e-12
        np.testing.assert_allclose(loop[2][e], stacked[2][e], rtol=0, atol=atol)
    np.testing.assert_allclose(fast["s_ici_12mo"], stacked[0][:, 1])
    # one patient and a batch agree row by row
    one = model.predict(X.iloc[[7]]).to_frame()
    np.testing.assert_allclose(one.drop(columns="recommendation").to_numpy(float),
                               fast.iloc[[7]].drop(columns="recommendation").to_numpy(float),
                               atol=1e-12)
