"""Feed an event file to the Lambda handler the way Lambda would, and print the result.

python -m yield_runway.serving.invoke deploy/events/api_request.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that the handler and logs use."""

    function_name: str = "yield-runway-local"
    memory_limit_in_mb: int = 3008
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:yield-runway-local"
    timeout_s: float = 900.0
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the configured timeout."""
        return int(1000 * (self.timeout_s - (time.monotonic() - self.started)))


def main(argv: list[str] | None = None) -> int:
    """Invoke the handler with the event in a JSON file and print its return value."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event", help="path to an event JSON file ('-' reads stdin)")
    args = parser.parse_args(argv)
    if args.event == "-":
        text = sys.stdin.read()
    else:
        with open(args.event, encoding="utf-8") as handle:
            text = handle.read()
    event: dict[str, Any] = json.loads(text)

    import logging

    # Lambda's runtime logs to the console at INFO; do the same here.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from .lambda_handler import handler

    result = handler(event, LambdaContext())
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
