"""Parts of modelling run alone on a trained project: reporting, and the serving artefacts."""

from __future__ import annotations

import json
import shutil

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project


def _run(root, **kwargs) -> None:
    bootstrap_project(root)
    with KedroSession.create(project_path=root) as session:
        session.run(pipeline_names=["modelling"], **kwargs)


def test_reporting_and_serving_artefacts_run_alone(trained_small_project, tmp_path, monkeypatch):
    root = tmp_path / "project"
    shutil.copytree(trained_small_project, root)
    monkeypatch.chdir(root)
    reporting = root / "data/08_reporting"
    importance = (reporting / "feature_importance.csv").read_text()
    (reporting / "feature_importance.csv").unlink()
    (reporting / "model_report.md").unlink()
    _run(root, tags=["reporting"])
    # The same champion and development models, from their saved copies: the same importances.
    assert (reporting / "feature_importance.csv").read_text() == importance
    assert (reporting / "model_report.md").stat().st_size > 0
    release = root / "data/06_models/release"
    before = json.loads((release / "manifest.json").read_text())
    _run(root, tags=["serving_artefacts"])
    after = json.loads((release / "manifest.json").read_text())
    assert after["version"] != before["version"]
    assert after["models"]["champion_model"]["name"] == before["models"]["champion_model"]["name"]
    assert after["history"] == before["history"]
    assert after["files"]["champion_model.onnx"] == before["files"]["champion_model.onnx"]
