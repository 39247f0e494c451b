"""GitHub Actions: the runtime files, and the plan, evaluate and publish stages."""
