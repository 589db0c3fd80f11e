"""Monitoring statistics: feature drift, realised performance of served predictions, alerts."""
