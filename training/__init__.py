"""MLflow-tracked jobs that fit, evaluate, register and promote benefit models."""
