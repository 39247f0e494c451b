"""ci-autoresearch: the autoresearch loop in CI, with decisions that hold on noisy runners."""

__version__ = "0.1.0"
