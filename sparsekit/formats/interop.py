"""torch sparse tensors built from (and read into) the formats, without torch's "Sparse CSR/BSR
tensor support is in beta state" warnings reaching the user: the formats validate the
structure themselves, so the warnings say nothing the caller can act on."""
import contextlib
import warnings

import numpy as np

QUIET = ("Sparse (CSR|BSR|CSC|BSC) tensor support is in beta state",
         "Sparse invariant checks are implicitly disabled")


@contextlib.contextmanager
def quiet():
    """Suppress torch's sparse beta warnings (only those) inside the block."""
    with warnings.catch_warnings():
        for message in QUIET:
            warnings.filterwarnings("ignore", message=message)
        yield


def torch_compressed(layout: str, indptr, indices, values, shape):
    """A torch sparse_csr (``layout="csr"``) or sparse_bsr tensor over fresh copies of the
    arrays (int64 indices, as torch wants), so it shares no memory with the format. torch's
    invariant checks are opted out of explicitly: the format has validated the structure."""
    import torch
    make = {"csr": torch.sparse_csr_tensor, "bsr": torch.sparse_bsr_tensor}[layout]
    with quiet():
        return make(torch.from_numpy(np.array(indptr, np.int64)),
                    torch.from_numpy(np.array(indices, np.int64)),
                    torch.from_numpy(np.array(values)), size=tuple(shape),
                    check_invariants=False)
