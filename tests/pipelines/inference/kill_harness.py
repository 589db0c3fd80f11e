"""Runs `inference` in a project and SIGKILLs itself at a chosen point (for the kill tests).

    python -m tests.pipelines.inference.kill_harness ROOT RUN_TIMESTAMP POINT

POINT is `before:<dataset>` or `after:<dataset>` (around that dataset's save), or `rename:<n>`
(inside the n-th file replacement: the temporary file is written, the rename never happens).
`retry:<n>` kills nothing: it runs like a scheduler that retries a failed run up to n times, and
exits 0 when a run succeeded, 3 when it was refused as stale.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from kedro.framework.hooks import hook_impl
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project


def die() -> None:
    """End the process the way a timeout or an OOM kill does: no cleanup of any kind."""
    os.kill(os.getpid(), signal.SIGKILL)


class KillAt:
    """Kills the run before or after one dataset's save."""

    def __init__(self, when: str, dataset: str) -> None:
        self.when, self.dataset = when, dataset

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data, node) -> None:
        if self.when == "before" and dataset_name == self.dataset:
            die()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data, node) -> None:
        if self.when == "after" and dataset_name == self.dataset:
            die()


def kill_on_rename(n: int) -> None:
    """Kill the process at the n-th atomic replacement, after its temporary file is written."""
    import yield_runway.datasets.atomic as atomic

    replace_file, calls = atomic.replace_file, [0]

    def replace_or_die(temporary: str, target: str) -> None:
        calls[0] += 1
        if calls[0] == n:
            die()
        replace_file(temporary, target)

    atomic.replace_file = replace_or_die


def run(root: Path, at: str, hook: object | None = None) -> None:
    """One inference run in its own session."""
    with KedroSession.create(
        project_path=root, runtime_params={"inference_run_timestamp": at}
    ) as session:
        if hook is not None:
            session._hook_manager.register(hook)
        session.run(pipeline_names=["inference"])


def run_with_retries(root: Path, at: str, retries: int) -> int:
    """Retry a run that lost the state's compare-and-swap; 3 when it is refused as stale."""
    from yield_runway.features.state import StaleRunError
    from yield_runway.features.state_dataset import StateConflictError

    for _ in range(retries + 1):
        try:
            run(root, at)
            return 0
        except StaleRunError:
            return 3
        except Exception as error:  # the catalog wraps a save's error in its own DatasetError
            if not isinstance(error.__cause__, StateConflictError):
                raise
            print(f"retrying: {error.__cause__}", file=sys.stderr)
    return 1


def main() -> None:
    root, at, point = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    os.chdir(root)
    bootstrap_project(root)
    when, _, target = point.partition(":")
    if when == "retry":
        sys.exit(run_with_retries(root, at, int(target)))
    if when == "rename":
        kill_on_rename(int(target))
    run(root, at, KillAt(when, target) if when in ("before", "after") else None)


if __name__ == "__main__":
    main()
