"""Orchestration: the loop, the demo, init."""
