"""yield-runway"""

__version__ = "0.1"
