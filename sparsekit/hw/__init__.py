"""The bridge to ``hwmodel``: a torch model's layers as workloads, priced on a described
hardware (``estimate``, ``compare``, ``compare_formats``, ``sweep_formats``), and measuring this
machine (``calibrate``)."""
from sparsekit.hw._calibrate import calibrate
from sparsekit.hw._compare_formats import FormatComparison, compare_formats, sweep_formats
from sparsekit.hw._estimate import compare, estimate

__all__ = ["estimate", "compare", "compare_formats", "sweep_formats", "FormatComparison",
           "calibrate"]
