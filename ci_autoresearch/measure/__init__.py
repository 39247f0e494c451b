"""Measuring: checkouts, processes, metrics, the interleaved session."""
