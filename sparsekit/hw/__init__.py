"""The bridge to ``hwmodel``: a torch model's layers as workloads, priced on a described
hardware (``estimate``, ``compare``), and measuring this machine (``calibrate``)."""
from sparsekit.hw._calibrate import calibrate
from sparsekit.hw._estimate import compare, estimate

__all__ = ["estimate", "compare", "calibrate"]
