"""What a JSON value must be to be scored (a finite number floats can hold) or stored again."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

# The forests score in float32: a larger finite value would fail the whole batch.
MAX_MAGNITUDE = float(np.finfo(np.float32).max)


def is_number(value: Any) -> bool:
    """True for a finite JSON number the models can score (bool is not a number here)."""
    if type(value) not in (int, float):
        return False
    try:
        return math.isfinite(value) and abs(value) <= MAX_MAGNITUDE
    except OverflowError:  # an integer too large for a float
        return False


def text_problem(item: Any) -> str | None:
    """Why a JSON value cannot be stored again: text that is not valid Unicode (JSON lets
    `\\ud800` through, which no store, Arrow or pandas string takes) or holds a NUL character
    (`\\u0000`, which NumPy's text arrays and many stores cut off), or nesting too deep to
    encode; None when it can."""
    try:
        text = json.dumps(item, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "invalid_text"
    except RecursionError:
        return "too_deep"
    # JSON writes a NUL as this escape; an escaped backslash before it is refused too (rare).
    return "invalid_text" if "\\u0000" in text else None
