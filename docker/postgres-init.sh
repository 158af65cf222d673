#!/usr/bin/env bash
# Runs once, when the Postgres volume is first initialised: MLflow gets its own role and database beside
# Airflow's metadata database (created from POSTGRES_DB).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE mlflow WITH LOGIN PASSWORD '${MLFLOW_DB_PASSWORD}';
CREATE DATABASE mlflow OWNER mlflow;
SQL
