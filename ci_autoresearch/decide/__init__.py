"""Deciding, pure: statistics, verdicts, keep or discard."""
