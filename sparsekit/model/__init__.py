"""What a model's forward pass does, layer by layer: tracing every matrix product, the
per-layer analysis (``analyze``), sparsity structure, and the summary table it returns."""
from sparsekit.model._analyze import analyze
from sparsekit.model.summary import Summary
from sparsekit.model.weights import effective_weight

__all__ = ["analyze", "Summary", "effective_weight"]
