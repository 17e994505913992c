"""A fitted benefit model plus everything needed to score one patient from raw inputs.

The bundle is what MLflow stores (inside the pyfunc) and what the server loads: it owns the feature
selection, so training and serving share one feature code path (``features.build_features``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

from features.manifest import PIPELINE_VERSION
from models.base import SURVIVAL_GRID_MONTHS, CurveBands
from models.prediction import Prediction
from models.tree_shap import TreeExplainer
from training.artifacts import ModelIntegrityError
from training.prognosis_bundle import PROGNOSIS_FEATURE, prognosis_feature


class FeaturePipelineMismatch(ModelIntegrityError):
    """The model was trained on features of another feature-pipeline version."""


NO_CURVES = np.array([])  # ``predict(X, times=NO_CURVES)``: the estimands only
SURROGATE_PARAMS = {"max_depth": 3, "eta": 0.1, "subsample": 0.8, "nthread": 1, "seed": 0}


class ModelBundle:
    """Estimator + feature list + training facts; scores raw patient inputs."""

    def __init__(
        self, estimator, feature_info: dict[str, dict], training: dict, alpha: float = 0.1
    ):
        self.estimator = estimator
        self.feature_info = feature_info
        self.training = training  # cohort name, synthetic, fingerprint, endpoint, panel size
        self.alpha = alpha
        # The feature definitions the model was trained on: a bundle is refused where the code
        # builds its features differently (features.manifest.PIPELINE_VERSION).
        self.pipeline_version = PIPELINE_VERSION
        self.ranges_: dict[str, tuple[float, float]] = {}
        self.surrogate_: xgb.Booster | None = None
        self.surrogate_r2_: float | None = None
        # The heterogeneity gate (set by training): the BLP test on held-out patients and the
        # trial's average effect, served to every patient when the test does not pass.
        self.heterogeneity: dict | None = None
        self.average = None  # models.average_benefit.AverageBenefit
        # The real-world prognosis model (training.prognosis_bundle.PrognosisBundle) when the
        # model uses it: as the input PROGNOSIS_FEATURE, and as the ICI-alone baseline of the
        # served curves when ``baseline == "real-world"`` (models.transport).
        self.prognosis = None
        self.baseline = "trial"
        # Cross-validated selection: {"chosen": learner or "average", "best_individual": the
        # individual learner fitted either way}.
        self.selection: dict | None = None

    @property
    def real_world(self) -> bool:
        return self.__dict__.get("baseline", "trial") == "real-world"

    @property
    def serves_average(self) -> bool:
        """True when no individual effects are served: heterogeneity was tested and not shown,
        or cross-validated selection preferred the constant (average-effect) model."""
        if self.__dict__.get("average") is None:
            return False
        gate = self.__dict__.get("heterogeneity")
        chosen = (self.__dict__.get("selection") or {}).get("chosen")
        return chosen == "average" or (gate is not None and not gate["passed"])

    @property
    def heterogeneity_report(self) -> dict | None:
        """The gate's result as the card and responses show it: what training stored, plus
        whether the individual effects beat the average (derived, so older models get it too)."""
        gate = self.__dict__.get("heterogeneity")
        if gate is None:
            return None
        from models.heterogeneity import HeterogeneityTest

        return HeterogeneityTest.from_dict(gate).to_dict()

    def gate_note(self) -> str | None:
        """The sentence every response carries when the average effect is served."""
        if not self.serves_average:
            return None
        reasons = []
        selection = self.__dict__.get("selection") or {}
        if selection.get("chosen") == "average":
            p = selection.get("constant_better_p_value")
            reasons.append(
                f"the constant model's cross-validated benefit loss was lower than the individual "
                f"learner's ({selection['best_individual']!r}"
                + ("" if p is None else f"; paired one-sided test, p = {p:.2g}, pre-specified "
                                        f"level {selection.get('alpha', 0.05):g}") + ")")
        gate = self.__dict__.get("heterogeneity")
        if gate is not None and not gate["passed"]:
            reasons.append(f"heterogeneity was not shown on {gate['n']} held-out patients "
                           f"(best-linear-predictor test, one-sided p = {gate['p_value']:.2f}, "
                           f"pre-specified level {gate['alpha']:g})")
        return (f"average effect of the trial for every patient: {'; '.join(reasons)}; no "
                f"individual recommendation")

    @property
    def feature_names(self) -> list[str]:
        return list(self.feature_info)

    @property
    def synthetic(self) -> bool:
        return bool(self.training.get("synthetic", False))

    def fit_explainer(self, X: pd.DataFrame) -> ModelBundle:
        """Fit a tree surrogate of the predicted 12-month RMST gain, for TreeSHAP drivers.

        Exact SHAP on a bootstrap ensemble of survival models is too slow per request; TreeSHAP on
        a boosted surrogate takes milliseconds. Its fidelity (R^2 on the training cohort) is
        reported in the model card so a user can judge the drivers.
        """
        lo = X.quantile(0.005).to_dict()
        hi = X.quantile(0.995).to_dict()
        self.ranges_ = {c: (float(lo[c]), float(hi[c])) for c in X.columns}
        gain = np.asarray(self.served_gain(X, "rmst_gain_12mo") if self.real_world
                          else self.estimator.effect(X, estimand="rmst_gain_12mo"), dtype=float)
        dtrain = xgb.DMatrix(X, label=gain, missing=np.nan)
        self.surrogate_ = xgb.train(SURROGATE_PARAMS, dtrain, num_boost_round=200)
        fitted = self.surrogate_.predict(dtrain)
        ss_tot = float(((gain - gain.mean()) ** 2).sum()) or 1.0
        self.surrogate_r2_ = 1.0 - float(((gain - fitted) ** 2).sum()) / ss_tot
        return self

    # --- the shared feature path -------------------------------------------------------------
    def features_for(self, raw) -> pd.DataFrame:
        """Model features for raw inputs, via the same pipeline as training."""
        import features

        built = features.build_features(raw).frame
        index = pd.Index(raw.clinical["patient_id"], name="patient_id")
        names = self.feature_names
        if not built.index.equals(index):
            built = built.reindex(index)
        values = np.full((len(index), len(names)), np.nan)
        built_columns = built.columns.get_indexer(names)  # -1: not a pipeline feature
        found = np.flatnonzero(built_columns >= 0)
        values[:, found] = built.to_numpy(dtype=float)[:, built_columns[found]]
        prognosis = self.__dict__.get("prognosis")
        if prognosis is not None and PROGNOSIS_FEATURE in names:
            values[:, names.index(PROGNOSIS_FEATURE)] = prognosis_feature(
                built, prognosis, self.training.get("endpoint", "pfs"))
        clinical = set(raw.clinical.columns)
        for j in np.flatnonzero(built_columns < 0):
            if names[j] in clinical:  # a clinical column used as given (--features)
                values[:, j] = pd.to_numeric(raw.clinical[names[j]],
                                             errors="coerce").to_numpy(dtype=float)
        return pd.DataFrame(values, index=index, columns=names)

    def raw_from_records(self, records: list[dict]):
        import features

        return features.raw_inputs_from_records(
            records, panel_size_mb=self.training.get("panel_size_mb"),
            extra_numeric=self.extra_columns,
        )

    @property
    def extra_columns(self) -> list[str]:
        """Clinical columns this model uses as given (``--features``), beyond the format's."""
        return [n for n, i in self.feature_info.items() if i["group"] == "clinical (as given)"]

    # --- predictions ---------------------------------------------------------------------------
    def predict(self, X: pd.DataFrame, times: np.ndarray | None = None,
                bands: bool = False) -> Prediction:
        """THE prediction of this model for the features ``X`` (``features_for``): both arms'
        curves on ``times`` (default SURVIVAL_GRID_MONTHS, the served grid; empty for none),
        every estimand with its interval at ``1 - alpha``, P(benefit), the recommendation and,
        with ``bands``, both arms' pointwise bands at that level from the same sampling
        distribution. What the server, the pyfunc, ``abscopal predict`` and the notebooks read.

        Three paths: the trial's effect on a real-world ICI-alone baseline (``real_world``,
        models.transport: per bootstrap member, or per draw of the average effect; no band for
        the baseline itself), the trial's average effect for everyone (``serves_average``:
        Kaplan-Meier curves with their exponential-Greenwood band), or the bootstrap
        ensemble's individual effects (one pass over its members, the bands their percentiles).
        """
        months = SURVIVAL_GRID_MONTHS if times is None else np.asarray(times, dtype=float)
        if self.real_world:
            columns, s0, s1, band = self._transported(X, months, bands=bands)
        elif self.serves_average:
            columns = self.average.benefit_columns(len(X))
            s0, s1 = self.average.predict_survival(len(X), months)
            band = self.average.survival_band(len(X), months) if bands else None
        else:
            return self.estimator.predict(X, months, alpha=self.alpha, bands=bands)
        return Prediction.from_columns(X.index, months, columns, s0, s1, band)

    def served_gain(self, X: pd.DataFrame, estimand: str) -> np.ndarray:
        """The gain this model serves (the average when the gate did not pass): what selection,
        promotion and evaluation judge."""
        if self.real_world:
            return self._transported(X, np.array([]))[0][estimand]
        if self.serves_average:
            return np.full(len(X), self.average.columns_[estimand])
        return np.asarray(self.estimator.effect(X, estimand=estimand), dtype=float)

    def _transported(self, X: pd.DataFrame, times: np.ndarray, bands: bool = False
                     ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, CurveBands | None]:
        """PREDICTION_COLUMNS and curves on ``times`` with the real-world ICI-alone baseline and
        the trial's relative effect on top (models.transport): per bootstrap member when
        individual effects are served, per bootstrap draw of the two Kaplan-Meier curves when the
        trial's average effect is; with ``bands``, the RT curve's band over those draws."""
        from models.base import BENEFIT_GRID_MONTHS
        from models.transport import transported_benefit

        grid = np.concatenate([BENEFIT_GRID_MONTHS, [6.0, 12.0], np.asarray(times, float)])
        model = self.prognosis.models[self.training.get("endpoint", "pfs")]
        base = model.survival_from_log_risk(X[PROGNOSIS_FEATURE].to_numpy(float), grid)
        if self.serves_average:
            ratios = self.average.ratio_draws(grid)
        else:
            ratios = self.estimator.hazard_ratio_draws(X, grid)
        return transported_benefit(base, ratios, self.alpha, self.estimator._rule(),
                                   individual=not self.serves_average, bands=bands)

    def explainer(self) -> TreeExplainer:
        """Table-based exact TreeSHAP of the surrogate (built on first use, never pickled):
        xgboost's ``pred_contribs`` values in ~0.04 ms per patient instead of ~0.6 ms."""
        explainer = self.__dict__.get("_explainer")
        if explainer is None or explainer.booster is not self.surrogate_:
            explainer = self.__dict__["_explainer"] = TreeExplainer(self.surrogate_)
        return explainer

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_explainer"}

    def __setstate__(self, state: dict) -> None:
        trained_on = state.get("pipeline_version", "1")  # bundles before the field: version 1
        if trained_on != PIPELINE_VERSION:
            raise FeaturePipelineMismatch(
                f"this model was trained on features of pipeline version {trained_on}; this "
                f"code builds version {PIPELINE_VERSION}, so its inputs would be misread. Retrain "
                "it with this version (`abscopal features` then `abscopal train`), or serve it "
                f"with the abscopal release that built pipeline version {trained_on}")
        self.__dict__.update(state)

    def drivers(self, X: pd.DataFrame, top_k: int = 5) -> list[list[dict]]:
        """The features pushing each patient's predicted RMST gain up or down most (TreeSHAP)."""
        if self.surrogate_ is None or self.serves_average:
            return [[] for _ in range(len(X))]
        inputs = X.to_numpy(dtype=float)
        contribs = self.explainer().shap_values(inputs)
        order = np.argsort(-np.abs(contribs), axis=1)[:, :top_k]
        top = np.take_along_axis(contribs, order, axis=1)
        values = np.take_along_axis(inputs, order, axis=1)
        names = np.asarray(X.columns, dtype=object)[order].tolist()
        rounded = np.round(top, 4).tolist()
        increases = (top > 0).tolist()
        shown = (top != 0).tolist()
        values = np.where(np.isnan(values), None, values).tolist()  # JSON null for missing
        return [
            [
                {"feature": names[i][r], "value": values[i][r],
                 "contribution_months": rounded[i][r],
                 "direction": "increases benefit" if increases[i][r] else "decreases benefit"}
                for r in range(order.shape[1])
                if shown[i][r]
            ]
            for i in range(len(X))
        ]

    def input_warnings(self, X: pd.DataFrame) -> list[list[str]]:
        """Per patient: one message naming the inputs to send for every imputed (missing)
        feature (``age``, ``histology``, ``expression``: fields POST /predict accepts and columns
        of clinical.csv, never derived feature names), one for features only a cohort
        directory's files give (TCR, ctDNA), then one per value outside the training range."""
        values = X.to_numpy(dtype=float)
        missing = np.isnan(values)
        names = list(X.columns)
        inputs, sources, from_files = self._warning_inputs(names)
        bounds = np.array([self.ranges_.get(name, (-np.inf, np.inf)) for name in names],
                          dtype=float).reshape(len(names), 2)
        lo, hi = bounds[:, 0], bounds[:, 1]
        with np.errstate(invalid="ignore"):
            outside = ~missing & ((values < lo) | (values > hi))
        extra: dict[int, list[str]] = {}
        for i, j in zip(*np.nonzero(outside), strict=True):
            v = values[i, j]
            extra.setdefault(i, []).append(
                f"{names[j]}={v:g} outside the training range [{lo[j]:g}, {hi[j]:g}]"
                f"{sources[j]}")
        # patients of a batch mostly share a pattern of missing inputs: its text is made once
        imputed: dict[bytes, list[str]] = {}
        warnings = []
        for i, row in enumerate(missing):
            key = row.tobytes()
            if key not in imputed:
                absent = np.flatnonzero(row)
                fields = list(dict.fromkeys(f for j in absent for f in inputs[j]))
                files = [names[j] for j in absent if from_files[j]]
                imputed[key] = (
                    ([f"missing, imputed by the model: {', '.join(fields)}"] if fields else [])
                    + ([f"missing, imputed by the model (from a cohort directory's tcr/ or "
                        f"ctdna.csv only; POST /predict does not take them): {', '.join(files)}"]
                       if files else []))
            warnings.append(imputed[key] + extra.get(i, []))
        return warnings

    def _warning_inputs(self, names: list[str]
                        ) -> tuple[list[tuple[str, ...]], list[str], list[bool]]:
        """Per model feature: the inputs a warning names for it (clinical fields, expression,
        mutations, a trial's own column), the note an out-of-range value of a derived feature
        gets ("computed from ..."), and whether only a cohort directory's files give it (TCR
        repertoires, ctDNA: no input named). The prognosis model's risk is computed from the
        others, whose warnings cover it when missing."""
        from features.clinical import MODALITY_INPUTS, feature_inputs

        files = {MODALITY_INPUTS["tcr"], MODALITY_INPUTS["ctdna"]}
        inputs, sources, from_files = [], [], []
        for name in names:
            from_files.append(False)
            found = feature_inputs(name, self.feature_info.get(name, {}).get("group"))
            if name == PROGNOSIS_FEATURE:
                from models.prognosis import PROGNOSIS_FEATURES

                read = dict.fromkeys(f for p in PROGNOSIS_FEATURES for f in feature_inputs(p)
                                     if f != "mutations")
                inputs.append(())
                sources.append(f" (computed from {', '.join(read)})")
                continue
            if files.intersection(found):
                from_files[-1] = True
                inputs.append(())
                where = "tcr/ files" if found[0] == MODALITY_INPUTS["tcr"] else "ctdna.csv"
                sources.append(f" (from the cohort's {where}; POST /predict does not take "
                               "them)")
                continue
            shown = tuple(f for f in found if f != "mutations") or found  # the field itself
            inputs.append(shown)
            sources.append("" if shown == (name,) or not shown
                           else f" (computed from {', '.join(shown)})")
        return inputs, sources, from_files

    def prediction_warnings(self, X: pd.DataFrame) -> list[list[str]]:
        """input_warnings plus, when the average effect is served, why: what every prediction
        (the response's ``warnings``, the predict CSV's ``warnings`` column) carries."""
        notes = self.input_warnings(X)
        gate_note = self.gate_note()
        return notes if gate_note is None else [[*n, gate_note] for n in notes]

    def predict_table(self, raw) -> pd.DataFrame:
        """One row per patient: ``patient_id``, PREDICTION_COLUMNS, then ``warnings`` (the
        response's warnings joined with "; "): the ``predict`` file, and the columns of the web
        page's download (serving.card.api_facts). ``predict`` without curves (the file has
        none)."""
        X = self.features_for(raw)
        table = self.predict(X, times=NO_CURVES).to_frame()
        table.insert(0, "patient_id", X.index.to_numpy())
        table["warnings"] = ["; ".join(notes) for notes in self.prediction_warnings(X)]
        return table.reset_index(drop=True)
