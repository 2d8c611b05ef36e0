"""A layer as the cost model sees it: the GEMM Y (M x N) = W (M x K) @ X (K x N), its true bytes,
its MAC counts and its sparsity.

Sizes are the real ones, not the GEMM view's: a convolution's input is smaller than K*N
(im2col repeats pixels) and a compressed weight moves its values plus its metadata. Fields left
as None get dense defaults when the layer is built (so ``dataclasses.replace`` keeps them).
"""

import math
from dataclasses import dataclass, replace

STRUCTURES = ("dense", "unstructured", "block", "vector")
KINDS = ("int", "fp")


@dataclass(frozen=True)
class Layer:
    """One conv/linear layer.

    name: label in tables.
    M: output features / output channels (rows of W).
    K: reduction length per group: in_features, or C_in*kh*kw/groups.
    N: columns of X: batch, times output positions for a conv.
    value_bits: width of a stored weight value.
    activation_bits: width of an input/output activation element.
    kind: "int" or "fp"; with max(value_bits, activation_bits) it picks the MAC energy.
    input_bytes: bytes of the layer's true input tensor. Default groups*K*N*activation_bits/8.
    output_bytes: bytes of the output tensor. Default M*N*activation_bits/8.
    weight_value_bytes: bytes of the stored weight values in their format
        (dense default M*K*value_bits/8).
    weight_metadata_bytes: bytes of the format's indices/pointers/bitmaps (0 for dense).
    dense_macs: MACs of the dense layer. Default M*K*N.
    effective_macs: MACs whose weight is nonzero. Default dense_macs.
    stored_macs: MACs over the weights the format stores, zeros kept inside blocks/vectors
        included (what skip hardware issues). Default effective_macs.
    structure: "dense" | "unstructured" | "block" | "vector" (picks the efficiency factor).
    activation_density: fraction of nonzero input activations (skip/gate hardware skips the
        rest too). Default 1.
    accumulator_bits: width of partial sums (in buffers and when spilled). Default 32.
    groups: grouped/depthwise convs: ``groups`` independent GEMMs of (M/groups) x K x N.
    """

    name: str
    M: int
    K: int
    N: int
    value_bits: int = 32
    activation_bits: int = 32
    kind: str = "fp"
    input_bytes: float | None = None
    output_bytes: float | None = None
    weight_value_bytes: float | None = None
    weight_metadata_bytes: float = 0.0
    dense_macs: float | None = None
    effective_macs: float | None = None
    stored_macs: float | None = None
    structure: str = "dense"
    activation_density: float = 1.0
    accumulator_bits: int = 32
    groups: int = 1

    def __post_init__(self):
        for key in ("M", "K", "N", "value_bits", "activation_bits", "accumulator_bits", "groups"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"layer {self.name!r}: {key} must be a positive int, "
                                 f"got {value!r}")
        if self.M % self.groups:
            raise ValueError(f"layer {self.name!r}: M={self.M} is not divisible by "
                             f"groups={self.groups}")
        act = self.activation_bits / 8
        defaults = {
            "input_bytes": self.groups * self.K * self.N * act,
            "output_bytes": self.M * self.N * act,
            "weight_value_bytes": self.M * self.K * self.value_bits / 8,
            "dense_macs": self.M * self.K * self.N,
        }
        for key, value in defaults.items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        if self.effective_macs is None:
            object.__setattr__(self, "effective_macs", self.dense_macs)
        if self.stored_macs is None:
            object.__setattr__(self, "stored_macs", self.effective_macs)
        self._validate()

    def _validate(self):
        def bad(key, why):
            raise ValueError(f"layer {self.name!r}: {key} {why}, got {getattr(self, key)!r}")

        if self.kind not in KINDS:
            bad("kind", f"must be one of {KINDS}")
        if self.structure not in STRUCTURES:
            bad("structure", f"must be one of {STRUCTURES}")
        for key in ("input_bytes", "output_bytes", "dense_macs"):
            if not _finite(getattr(self, key)) or getattr(self, key) <= 0:
                bad(key, "must be positive")
        for key in ("weight_value_bytes", "weight_metadata_bytes", "effective_macs"):
            if not _finite(getattr(self, key)) or getattr(self, key) < 0:
                bad(key, "must be zero or more")
        if not _finite(self.stored_macs) or not \
                self.effective_macs <= self.stored_macs <= self.dense_macs * (1 + 1e-12):
            bad("stored_macs", "must lie between effective_macs and dense_macs")
        if not _finite(self.activation_density) or not 0 < self.activation_density <= 1:
            bad("activation_density", "must be in (0, 1]")

    @property
    def weight_bytes(self):
        """Every byte of the weight in its format: values plus metadata."""
        return self.weight_value_bytes + self.weight_metadata_bytes

    @property
    def mac_bits(self):
        return max(self.value_bits, self.activation_bits)

    @property
    def group_shape(self):
        """(M/groups, K, N): the GEMM one group computes."""
        return self.M // self.groups, self.K, self.N

    @property
    def element_bytes(self):
        """Bytes per GEMM element of (W, X, partial-sum Y) as a tile holds them: the true
        sizes spread over the GEMM view, so a tile of a compressed W is smaller."""
        _, k, n = self.group_shape
        return (self.weight_bytes / (self.M * k), self.input_bytes / (self.groups * k * n),
                self.accumulator_bits / 8)

    def with_density(self, density, structure="unstructured", metadata_bytes=0.0):
        """A copy pruned to ``density`` nonzero weights: values and MACs scale with it,
        metadata is what the caller's format needs (the bridge passes exact bytes)."""
        if not 0 <= density <= 1:
            raise ValueError(f"density must be in [0, 1], got {density!r}")
        dense_values = self.M * self.K * self.value_bits / 8
        return replace(self, weight_value_bytes=dense_values * density,
                       weight_metadata_bytes=metadata_bytes,
                       effective_macs=self.dense_macs * density,
                       stored_macs=self.dense_macs * density, structure=structure)


def _finite(value):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
