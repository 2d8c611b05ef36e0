"""The real alternatives a sparse kernel is compared against, as zero-argument callables
computing W @ X: dense torch and numpy, torch sparse CSR/BSR, scipy csr_array/bsr_array."""
import warnings

import numpy as np

DENSE = ("torch_dense", "numpy_dense")
SPARSE = ("torch_csr", "torch_bsr", "scipy_csr", "scipy_bsr")


def baseline(name: str, w: np.ndarray, x: np.ndarray, block=(4, 4)):
    """A callable computing w @ x with the implementation ``name``, or None when that
    implementation cannot hold w (torch/scipy BSR need a shape divisible by the block)."""
    import scipy.sparse as sp
    import torch

    m, k = w.shape
    divisible = m % block[0] == 0 and k % block[1] == 0
    if name == "torch_dense":
        wt, xt = torch.from_numpy(w), torch.from_numpy(x)
        return lambda: wt @ xt
    if name == "numpy_dense":
        return lambda: w @ x
    if name in ("torch_csr", "torch_bsr"):
        if name == "torch_bsr" and not divisible:
            return None
        with warnings.catch_warnings():  # "sparse CSR/BSR tensor support is in beta"
            warnings.filterwarnings("ignore", "Sparse (CSR|BSR) tensor support is in beta")
            wt = torch.from_numpy(w)
            wt = wt.to_sparse_csr() if name == "torch_csr" else wt.to_sparse_bsr(tuple(block))
        xt = torch.from_numpy(x)
        return lambda: wt @ xt
    if name == "scipy_csr":
        s = sp.csr_array(w)
        return lambda: s @ x
    if name == "scipy_bsr":
        if not divisible:
            return None
        s = sp.bsr_array(w, blocksize=tuple(block))
        return lambda: s @ x
    raise ValueError(f"unknown baseline {name!r}; choose from {DENSE + SPARSE}")
