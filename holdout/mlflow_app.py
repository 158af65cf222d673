"""The MLflow UI server `holdout mlflow-ui` runs: MLflow's own app plus one start page, `/holdout/start`.

MLflow 3.17 opens on its GenAI view, opens an Assistant panel on a local server and shows a pop-up about the
"new Model Registry UI" on the models page. It keeps each of those choices in the browser's localStorage and has
no server setting for them. The start page is served by the MLflow server itself, so it shares the UI's origin and
storage: it records the choices a user would otherwise make by hand (classic "Model training" view, panel closed,
pop-up dismissed) and forwards to the experiments or the models page. Nothing else in MLflow changes.

Registered as the `mlflow.app` entry point `holdout` (pyproject.toml); `mlflow ui --app-name holdout` serves it.
"""

from __future__ import annotations

import json

from flask import Response, request
from mlflow.server import app as flask_app
from mlflow.server.fastapi_app import app

from holdout.ui import MLFLOW_START_PATH as START_PATH

PAGES = ("experiments", "models")

# localStorage keys of MLflow 3.17's UI (its `useLocalStorage` hook stores JSON under `<key>_v<version>`)
UI_CHOICES = {
    "mlflow.workflowType_v1": "machine_learning",
    "mlflow.assistant.panelOpen_v1": False,
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": True,
    "_mlflow_model_registry_promo_modal_dismissed_v1": True,
}

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Holdout: opening MLflow</title></head>
<body><p>Opening MLflow on the {page} page&hellip; <a href="{target}">continue</a></p>
<script>var c={choices};for(var k in c){{try{{localStorage.setItem(k,JSON.stringify(c[k]))}}catch(e){{}}}}
location.replace("{target}");</script></body></html>"""


@flask_app.route(START_PATH)
def holdout_start() -> Response:
    """Record the classic-view choices in this browser, then forward to `?page=experiments|models`."""
    page = request.args.get("page", "experiments")
    if page not in PAGES:
        page = "experiments"
    target = f"../#/{page}?workflowType=machine_learning"  # relative: the UI's root, whatever host serves it
    html = _PAGE.format(page=page, target=target, choices=json.dumps(UI_CHOICES))
    return Response(html, mimetype="text/html")


__all__ = ["START_PATH", "app"]
