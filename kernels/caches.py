"""This CPU's cache sizes, and how far ahead a kernel prefetches a matrix that streams from
DRAM. No Numba: ``sparsekit.hw`` reads the sizes too."""
from pathlib import Path

# A matrix of more than half the L3 is taken to stream from DRAM: the rest of the L3 holds a
# model's other layers and activations. VectorSkip(8) SpMV at 90 %, one thread, one matrix
# run again and again (so partly from L3), prefetching 6 KB ahead against not: 4096² (7 MB)
# 0.90x, 6144² (16 MB) 1.04x, 7168² (21 MB) 1.47x.
DRAM_SHARE_OF_L3 = 0.5
# How far ahead of its reads such a kernel asks for the matrix's lines, in bytes. 8192² at
# 90 %, one thread, four such matrices read in turn (none twice in a row, so each streams
# from DRAM), prefetching and plain kernels swapping matrices halfway: VectorSkip(8) SpMV
# 1650-1683 µs without, 1540 at 2 KB, 1443 at 4 KB, 1596 at 8 KB; BSR 4×4 SpMV 1240-1252
# without, 1211 at 4 KB, 1359 at 8 KB. (CSR SpMV, paced by its x lookups, ran 17 % slower
# prefetching the next row.)
PREFETCH_AHEAD_BYTES = 4 * 1024


def cache_sizes() -> dict:
    """{"l1": bytes, "l2": ..., "l3": ...} of the data/unified caches of cpu0 (sysfs)."""
    out = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(base.glob("index*")) if base.is_dir() else []:
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(size[-1], 1)
        out[f"l{level}"] = int(size.rstrip("KMG")) * scale
    return out or {"l1": 32 * 1024, "l2": 1024 ** 2}


_LAST_LEVEL = None   # bytes of the last-level cache, read from sysfs at the first product


def prefetch_ahead(nbytes: int, itemsize: int) -> int:
    """How many elements ahead of its reads a kernel streaming a matrix of ``nbytes`` should
    prefetch it: ``PREFETCH_AHEAD_BYTES`` worth where the matrix outgrows its share of the
    last-level cache, else 0 (no prefetch: from L3, the extra instructions cost 10 %)."""
    global _LAST_LEVEL
    if _LAST_LEVEL is None:
        _LAST_LEVEL = max(cache_sizes().values())
    if nbytes <= DRAM_SHARE_OF_L3 * _LAST_LEVEL:
        return 0
    return PREFETCH_AHEAD_BYTES // itemsize
