"""`sparsekit bench`: a short sparse-vs-dense comparison on this machine, in one process.

For each shape, sparsity, batch and format it packs a weight pruned in the structure the
format skips, and times three products of that weight in the same interleaved rounds (dense
torch.matmul, the sparsekit format, torch's sparse CSR: one call of each per round), all with
the same pinned thread count. A load change during the run then hits the three alike, and each
row's dense baseline is measured beside its own sparse product (one dense measurement shared
by several rows could differ by 1.7x from one row to the next under load). Rows report the p50
(``dense_s``, ``sparse_s``, ``torch_csr_s``) and p90 (``..._p90_s``) of each in seconds, and the
speedups as the median of the per-round ratios.
"""
import numpy as np

from hwmodel.table import Table

from sparsekit.benchmarking.baselines import baseline
from sparsekit.benchmarking.timing import interleaved, paired_ratio
from sparsekit.benchmarking.workloads import STRUCTURE_OF_FORMAT, random_weight
from sparsekit.formats import pack
from sparsekit.threads import set_num_threads

QUICK = dict(shapes=[(4096, 4096), (256, 2304)], sparsities=[0.5, 0.9], batches=[1, 64])

# What a 100-column terminal keeps first (see hwmodel.table), and what the columns mean.
PRIORITY = ("shape", "sparsity", "batch", "format", "speedup", "dense_s", "sparse_s",
            "dense_p90_s", "sparse_p90_s", "speedup_vs_torch_csr", "torch_csr_s")
LEGEND = {
    "dense_s": "torch.matmul on the same weight stored dense: p50 of the rounds",
    "sparse_s": "the sparsekit format: p50 of the rounds (p90: their 90th percentile)",
    "speedup": "dense / sparse time, the median of the ratios of the same rounds",
    "speedup_vs_torch_csr": "torch's sparse CSR time / sparse time, likewise",
}


def run(shapes=QUICK["shapes"], sparsities=QUICK["sparsities"], batches=QUICK["batches"],
        formats=None, threads=1, budget_s=0.5, progress=True):
    """Time every (shape, sparsity, batch, format) point for about ``budget_s`` seconds
    (at least 5 rounds); returns a Table, one row per point, times in seconds. ``formats``:
    default every registered format."""
    import torch  # noqa: F401  (set_num_threads pins torch too once it is imported)
    from tqdm import tqdm

    formats = tuple(formats or STRUCTURE_OF_FORMAT)
    unknown = [f for f in formats if f not in STRUCTURE_OF_FORMAT]
    if unknown:
        raise ValueError(f"unknown format(s) {unknown}; choose from {tuple(STRUCTURE_OF_FORMAT)}")
    set_num_threads(threads)
    points = [(s, p, b) for s in shapes for p in sparsities for b in batches]
    rows = []
    rng = np.random.default_rng(0)
    for shape, sparsity, batch in tqdm(points, desc="sparsekit bench", disable=not progress):
        x = rng.standard_normal((shape[1], batch) if batch > 1 else shape[1]).astype(np.float32)
        for fmt in formats:
            rows.append(_row(shape, sparsity, batch, fmt, x, budget_s))
    return Table(rows, priority=PRIORITY, legend=LEGEND)


def _row(shape, sparsity, batch, fmt, x, budget_s) -> dict:
    w = random_weight(shape, sparsity, STRUCTURE_OF_FORMAT[fmt])
    a = pack(w, fmt)
    out = np.empty((shape[0],) + x.shape[1:], np.float32)
    dense, sparse, torch_csr = interleaved(
        [baseline("torch_dense", w, x), lambda: a.matmul(x, out), baseline("torch_csr", w, x)],
        budget_s=budget_s)
    moved = a.storage().total + 4 * (shape[0] + shape[1]) * batch  # W as stored, X and Y
    return {
        "shape": f"{shape[0]}x{shape[1]}", "sparsity": sparsity, "batch": batch,
        "format": fmt, "structure": STRUCTURE_OF_FORMAT[fmt], "rounds": sparse.rounds,
        "dense_s": dense.p50, "dense_p90_s": dense.p90,
        "sparse_s": sparse.p50, "sparse_p90_s": sparse.p90,
        "speedup": paired_ratio(dense, sparse),
        "torch_csr_s": torch_csr.p50, "torch_csr_p90_s": torch_csr.p90,
        "speedup_vs_torch_csr": paired_ratio(torch_csr, sparse),
        "sparse_bytes_per_s": moved / sparse.p50,
        "sparse_flop_per_s": 2 * a.nnz * batch / sparse.p50,
    }
