"""notebooks/exploration.ipynb runs top to bottom on the embedded sample, trained."""

from __future__ import annotations

import shutil

import nbclient
import nbformat
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT, write_small_conf


def test_exploration_notebook_executes(tmp_path, monkeypatch):
    # The embedded sample itself, trained with fewer trees and folds (the notebook reads the
    # artefacts, it does not judge them).
    root = write_small_conf(tmp_path)
    shutil.copytree(PROJECT_ROOT / "data" / "01_raw", root / "data" / "01_raw")
    monkeypatch.chdir(root)
    bootstrap_project(root)
    with KedroSession.create(project_path=root) as session:
        session.run(pipeline_names=["training"])
    notebook_dir = root / "notebooks"
    notebook_dir.mkdir()
    shutil.copy(PROJECT_ROOT / "notebooks" / "exploration.ipynb", notebook_dir)
    notebook = nbformat.read(notebook_dir / "exploration.ipynb", as_version=4)
    # The committed notebook carries no outputs.
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": notebook_dir}}
    )
    client.execute()
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
    )
    assert "300 pools" in text
    assert "Stable/Up share" in text and "holdout_auc" in text
    assert not [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
