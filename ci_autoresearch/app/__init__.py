"""The commands' bodies and the orchestration: init (adopt), validate, bench and compare, run (the loop),
history and status, the demo; workspace holds what they share."""
