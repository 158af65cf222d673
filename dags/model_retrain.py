"""
### model_retrain: training features → train each model → promotion → score → score marts; uplift models

Weekly (Sunday 03:00 UTC) **and** whenever `customer_build` publishes a new profile or `campaign_close` new
results (`AssetOrTimeSchedule`).

1. **build_features**: the point-in-time training features (dbt models under `models/ml`).
2. **train** (one mapped task per model of `ml/models.yml`, listed when the run starts, one at a time): LightGBM tracked in MLflow; each new version gets the
   `challenger` alias. Serialized (`max_active_tis_per_dagrun=1` and the warehouse pool) because the MLflow
   SQLite store and the DuckDB file both lock under concurrent writers.
3. **promotion**: the metric gate moves `champion` only when the challenger wins; logs the decision per model.
4. **score**: every model's champion scores every customer into `ops.model_scores` (keyed by scoring date:
   a re-run replaces that date's scores).
5. **rebuild_score_marts**: dbt rebuilds `marts.customer_scores` and the marts that read it (profile scores,
   predictive segments); emits the scores Asset.
6. **train_uplift** (after the response models): one uplift model per campaign with closed launches, pooled over
   them (`ml.uplift`); `challenger` on every version, `champion` when its held-out Qini wins. Also runs when
   `campaign_close` publishes new results (its results Asset is in the schedule), so a closed window is learned
   from in the next run, and the next launch's policy (`priority: auto`) uses that champion. It waits for the
   response models (one MLflow writer at a time) but runs even when one of them failed (`all_done`).
"""

from __future__ import annotations

from _defaults import DAG_DEFAULT_ARGS, DAG_START_DATE, PROFILE, RESULTS, SCORES, WAREHOUSE_POOL
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task


@dag(
    dag_id="model_retrain",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 3 * * 0", timezone="UTC"),
        assets=PROFILE | RESULTS,
    ),
    start_date=DAG_START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DAG_DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["holdout", "ml", "mlflow"],
)
def model_retrain():
    @task(pool=WAREHOUSE_POOL)
    def build_features() -> dict:
        from ml.tasks import build_training_features

        return build_training_features()

    @task
    def list_models() -> list[str]:
        from ml.tasks import model_names

        return model_names()

    @task(pool=WAREHOUSE_POOL, max_active_tis_per_dagrun=1)
    def train(model: str) -> dict:
        from ml.tasks import train_model

        return train_model(model)

    @task
    def promotion(trained: list[dict]) -> dict:
        from ml.tasks import promotion_decision

        return promotion_decision(list(trained))

    @task(pool=WAREHOUSE_POOL)
    def score() -> list:
        from ml.tasks import score_customers

        return score_customers()

    @task(pool=WAREHOUSE_POOL, outlets=[SCORES])
    def rebuild_score_marts() -> dict:
        from holdout.warehouse_tasks import rebuild_marts

        # the marts that read ops.model_scores: customer_scores, profile scores, predictive segments
        return rebuild_marts("stg_ops__model_scores+")

    # after the response models only to keep MLflow's SQLite store to one writer: a failed response model must
    # not keep a closed window from being learned, so it runs once they are done, whatever their state
    @task(pool=WAREHOUSE_POOL, trigger_rule="all_done")
    def train_uplift() -> dict:
        from ml.tasks import train_uplift_models

        return train_uplift_models()

    trained = train.expand(model=list_models())
    build_features() >> trained
    promotion(trained) >> score() >> rebuild_score_marts()
    trained >> train_uplift()


model_retrain()
