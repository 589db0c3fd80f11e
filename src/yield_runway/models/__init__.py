"""Estimators, calibration, metrics and time-series splits used by the modelling pipeline."""
