"""Screenshot the training pipeline in kedro-viz with headless Chromium (for the README).

Needs Debian's `chromium` and `pip install playwright` (no browser download: it drives the
system Chromium). Run from the project root:

    python scripts/screenshot_viz.py docs/images/kedro-viz-training.png
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

PORT = 4141
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def wait_for(url: str, seconds: float) -> None:
    """Poll a URL until it answers or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def main(out: str) -> None:
    """Start kedro-viz, open the training pipeline, dismiss the tour, save a PNG."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    kedro = Path(sys.executable).with_name("kedro")
    server = subprocess.Popen(
        [str(kedro), "viz", "run", "--host", "127.0.0.1", "--port", str(PORT), "--no-browser"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # kedro viz serves from a spawned child: a session of its own lets us stop both.
        start_new_session=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{PORT}/api/main", 180)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            # Tall, like the pipeline: the graph fits at a zoom where names are readable.
            page = browser.new_page(viewport={"width": 1500, "height": 2300})
            # Mark the onboarding tour and release banner as seen before the app reads them.
            page.add_init_script(
                "localStorage.setItem('KedroViz', JSON.stringify({"
                "showFeatureHints: false, theme: 'light'}));"
            )
            page.goto(f"http://127.0.0.1:{PORT}/?pipeline_id=training", wait_until="networkidle")
            page.wait_for_timeout(4000)
            for label in ("Dismiss", "Got it", "Close"):
                button = page.get_by_role("button", name=label)
                if button.count():
                    button.first.click()
            page.keyboard.press("Escape")
            page.wait_for_timeout(1500)
            page.screenshot(path=out)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/images/kedro-viz-training.png")
