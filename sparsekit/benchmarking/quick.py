"""`sparsekit bench`: a short sparse-vs-dense comparison on this machine, in one process.

For each shape, sparsity and batch it times the sparsekit formats (each on weights pruned in
the structure it skips) against dense torch.matmul and torch's sparse CSR, all with the same
pinned thread count, and reports medians and speedups over dense torch.
"""
import numpy as np

from hwmodel.table import Table

from sparsekit.benchmarking.baselines import baseline
from sparsekit.threads import set_num_threads
from sparsekit.benchmarking.timing import median_seconds
from sparsekit.formats import pack
from sparsekit.benchmarking.workloads import STRUCTURE_OF_FORMAT, random_weight

QUICK = dict(shapes=[(4096, 4096), (256, 2304)], sparsities=[0.5, 0.9], batches=[1, 64])


def run(shapes=QUICK["shapes"], sparsities=QUICK["sparsities"], batches=QUICK["batches"],
        formats=("csr", "bsr", "vectorskip"), threads=1, budget_s=0.2, progress=True):
    """Time every (shape, sparsity, batch, format) point; returns a Table of rows."""
    import torch  # noqa: F401  (set_num_threads pins torch too once it is imported)
    from tqdm import tqdm

    set_num_threads(threads)
    points = [(s, p, b) for s in shapes for p in sparsities for b in batches]
    rows = []
    rng = np.random.default_rng(0)
    for shape, sparsity, batch in tqdm(points, desc="sparsekit bench", disable=not progress):
        x = rng.standard_normal((shape[1], batch) if batch > 1 else shape[1]).astype(np.float32)
        dense_w = random_weight(shape, 0.0)
        t_dense = median_seconds(baseline("torch_dense", dense_w, x), budget_s=budget_s)
        for fmt in formats:
            w = random_weight(shape, sparsity, STRUCTURE_OF_FORMAT[fmt])
            a = pack(w, fmt)
            out = np.empty((shape[0],) + x.shape[1:], np.float32)
            t = median_seconds(lambda: a.matmul(x, out), budget_s=budget_s)
            t_torch_csr = median_seconds(baseline("torch_csr", w, x), budget_s=budget_s)
            moved = a.storage().total + 4 * (shape[0] + shape[1]) * batch
            rows.append({
                "shape": f"{shape[0]}x{shape[1]}", "sparsity": sparsity, "batch": batch,
                "format": fmt, "structure": STRUCTURE_OF_FORMAT[fmt],
                "sparse_ms": round(t * 1e3, 4), "dense_torch_ms": round(t_dense * 1e3, 4),
                "torch_csr_ms": round(t_torch_csr * 1e3, 4),
                "speedup_vs_dense": round(t_dense / t, 2),
                "speedup_vs_torch_csr": round(t_torch_csr / t, 2),
                "GBps": round(moved / t / 1e9, 1),
                "GFLOPps": round(2 * a.nnz * batch / t / 1e9, 1),
            })
    return Table(rows)
