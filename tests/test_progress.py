"""Progress lines are INFO on a terminal and DEBUG in CI or logs."""

from __future__ import annotations

import logging

from yield_runway import progress


def test_progress_is_quiet_in_ci(monkeypatch, caplog):
    logger = logging.getLogger("test.progress")
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("CI", "true")
    with caplog.at_level(logging.DEBUG, logger="test.progress"):
        progress.report_progress(logger, "step %d", 1)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.DEBUG, "step 1")]


def test_progress_shows_on_a_terminal(monkeypatch, caplog):
    logger = logging.getLogger("test.progress")
    monkeypatch.setattr(progress, "interactive", lambda: True)
    with caplog.at_level(logging.DEBUG, logger="test.progress"):
        progress.report_progress(logger, "step %d", 2)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.INFO, "step 2")]
