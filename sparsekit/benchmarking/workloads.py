"""Synthetic pruned weights for benchmarks: magnitude-style sparsity, unstructured or
structured in the groups a format skips (r×c blocks for BSR, length-V vectors for VectorSkip)."""
import numbers

import numpy as np

from sparsekit.formats import registry
from sparsekit.formats.arrays import check_shape
from sparsekit.formats.params import check_block, check_vector

STRUCTURE_OF_FORMAT = registry.structures()     # format -> the structure its pruning keeps


def _prune_groups(w: np.ndarray, sparsity: float, r: int, c: int) -> np.ndarray:
    """Zero the fraction ``sparsity`` of r×c groups with the smallest L2 norm (edge groups
    of a shape not divisible by r×c are smaller, as a BSR pads them)."""
    m, k = w.shape
    pad = np.zeros((-(-m // r) * r, -(-k // c) * c), w.dtype)
    pad[:m, :k] = w
    tiles = pad.reshape(pad.shape[0] // r, r, pad.shape[1] // c, c)
    norms = np.sqrt((tiles.astype(np.float64) ** 2).sum(axis=(1, 3)))
    n_zero = int(round(sparsity * norms.size))
    order = np.argsort(norms, axis=None, kind="stable")[:n_zero]
    keep = np.ones(norms.size, bool)
    keep[order] = False
    tiles *= keep.reshape(norms.shape)[:, None, :, None]
    return np.ascontiguousarray(tiles.reshape(pad.shape)[:m, :k])


def random_weight(shape, sparsity: float, structure: str = "unstructured", block=(4, 4),
                  vector: int = 8, dtype=np.float32, seed: int = 0) -> np.ndarray:
    """A standard-normal M×K weight pruned by magnitude to ``sparsity``.

    structure: "unstructured" (single weights), "block" (r×c blocks), "vector" (length-V
    column vectors of V-row panels, the groups VectorSkip skips).
    """
    m, k = check_shape(shape)
    if not m or not k:
        raise ValueError(f"shape must be two positive integers (M, K), got {shape!r}")
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real) \
            or not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    block, vector = check_block(block), check_vector(vector)
    w = np.random.default_rng(seed).standard_normal((int(m), int(k))).astype(dtype)
    if structure == "unstructured":
        return _prune_groups(w, sparsity, 1, 1)
    if structure == "block":
        return _prune_groups(w, sparsity, *block)
    if structure == "vector":
        return _prune_groups(w, sparsity, vector, 1)
    raise ValueError(f"structure must be unstructured, block or vector, got {structure!r}")
