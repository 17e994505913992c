"""Treatment-benefit estimators over censored progression-free survival."""
