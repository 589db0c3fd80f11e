"""notebooks/exploration.ipynb runs top to bottom on a small trained project."""

from __future__ import annotations

import shutil

import nbclient
import nbformat
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT, make_raw_history, make_snapshot, write_small_project


def test_exploration_notebook_executes(tmp_path, monkeypatch):
    raw = make_raw_history(n_pools=8, n_days=190, seed=11)
    root = write_small_project(tmp_path, raw, make_snapshot(raw))
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
    assert "8 pools" in text
    assert "Stable/Up share" in text and "holdout_auc" in text
    assert not [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
