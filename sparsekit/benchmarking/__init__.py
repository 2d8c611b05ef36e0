"""What benchmarking needs, in one place: a timer with spread, the dense and sparse baselines,
synthetic pruned weights, and the quick grid behind ``sparsekit bench``."""
