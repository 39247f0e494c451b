"""Where candidates come from: branches ranked by hypotheses, a search space, a generator."""
