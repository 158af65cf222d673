"""Holdout's predictive models: point-in-time features (dbt), LightGBM, MLflow tracking and registry.

No Airflow imports: the same functions run from the CLI, a DAG or a notebook.
"""

__all__ = ["train_model", "train_all", "score_all", "rollback"]


def __getattr__(name: str):
    # lazy: `import ml` stays cheap (MLflow and LightGBM load only when used)
    if name in ("train_model", "train_all"):
        from ml import train

        return getattr(train, name)
    if name == "score_all":
        from ml.score import score_all

        return score_all
    if name == "rollback":
        from ml.registry import rollback

        return rollback
    raise AttributeError(name)
