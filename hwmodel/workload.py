"""A layer as the cost model sees it: the GEMM Y (M x N) = W (M x K) @ X (K x N), its true bytes,
its MAC counts and its sparsity.

Sizes are the real ones, not the GEMM view's: a convolution's input is smaller than K*N
(im2col repeats pixels) and a compressed weight moves its values (payload) and its metadata
apart. Fields left as None get defaults when the layer is built (so ``dataclasses.replace``
keeps them); ``accumulator_bits`` left as None takes the hardware's (``Layer.on``).

The weight's format may be given three ways, from most to least detailed:
- ``footprint``: a ``hwmodel.formats.Footprint`` (exact, from ``formats.footprint``): payload
  and metadata bytes and the metadata bits of every rank follow from it;
- ``weight_value_bytes`` / ``weight_metadata_bytes`` and ``rank_metadata`` ((representation,
  bits) per rank, outermost first): the same numbers without the formats package;
- ``weight_value_bytes`` / ``weight_metadata_bytes`` alone: no per-rank decode cost.
"""

import math
import numbers
from dataclasses import dataclass, field, replace

import numpy as np

STRUCTURES = ("dense", "unstructured", "block", "vector")
KINDS = ("int", "fp")
COMPUTE_MODES = ("skip", "gate", "none")
REPRESENTATIONS = ("U", "B", "CP", "UOP", "RLE")      # as hwmodel.formats.spec names them
OPS = ("linear", "conv", "depthwise", "matmul", "other")   # as hwmodel.hardware names them
OPERANDS = ("weights", "inputs", "outputs")


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
    accumulator_bits: width of partial sums (in buffers and when spilled). Default None: the
        hardware's ``compute.accumulator_bits`` (32 unless its description says otherwise).
    groups: grouped/depthwise convs: ``groups`` independent GEMMs of (M/groups) x K x N.
    weight_format: the ``hwmodel.formats.FormatSpec`` the weight is stored in (optional; its
        name labels the layer's format, its ``compute`` is the default of ``compute``).
    footprint: the exact ``hwmodel.formats.Footprint`` of the weight in that format. When
        given, ``weight_value_bytes`` defaults to its payload bytes, ``weight_metadata_bytes``
        to its metadata bytes, ``rank_metadata`` to its per-rank metadata bits,
        ``effective_macs`` to nnz * N and ``stored_macs`` to stored values * N.
    rank_metadata: ((representation, metadata bits), ...) per rank of the format, outermost
        first (representation one of U, B, CP, UOP, RLE). Its bits must add up to
        ``weight_metadata_bytes`` * 8. Prices per-rank decode energy and cycles
        (``Sparsity.decode_energy`` / ``decode_bits_per_cycle``). Default () (none priced).
    compute: what the datapath does with zero work for this layer: "skip" (saves cycles and
        energy), "gate" (saves energy only), "none". Default None: the weight format's
        ``compute`` when ``weight_format`` is given, else the hardware's ``sparsity.support``.
    row_nnz: stored weight values (what skip hardware issues: nonzeros for CSR, block/vector
        zeros included) of each output row m, a tuple of M ints (any int sequence or array is
        converted). With a PE array that splits M across PEs, the compute cycles follow the
        busiest PE (load imbalance). Must add up to ``stored_macs / N``. Default None: balanced.
    op: what runs the product on a host, one of OPS ("linear", "conv", "depthwise",
        "matmul": a product of two activations, "other": any non-GEMM op): picks the
        hardware's ``dense_efficiency`` and ``call_cycles`` (a compressed weight pays the
        "sparse" or "sparse_conv" call cost). Default None: a plain GEMM, neither applies.
    other_op: with op "other", which kind of op it is, as the trace names it
        ("native_batch_norm", "max_pool2d", "add"...): picks its measured costs in the
        hardware's ``compute.other_ops`` when listed there. Default None.
    calls: separate calls (op dispatches, kernel calls) the layer stands for; each pays the
        fixed cost once. Default 1.
    resident: operands ("weights", "inputs", "outputs") held by the outermost on-chip level
        across the layer's boundary (an input the previous layer left there, a weight that
        stays cached between inferences, an output kept there for the next layer): their
        compulsory traffic with the outermost level (DRAM) is not made. Default () (none).
    streamed: operands the layer's kernel reads whole for each use, untiled (a sparse kernel
        walking a row of X per stored value): their per-MAC reads come from the innermost
        level that can hold one call's share of the operand, not from the innermost level.
        Default () (the mapping's tiles keep them in the innermost level).
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
    weight_metadata_bytes: float | None = None
    dense_macs: float | None = None
    effective_macs: float | None = None
    stored_macs: float | None = None
    structure: str = "dense"
    activation_density: float = 1.0
    accumulator_bits: int | None = None
    groups: int = 1
    weight_format: object = None
    footprint: object = None
    rank_metadata: tuple | None = None
    compute: str | None = None
    row_nnz: tuple | None = field(default=None, repr=False)
    op: str | None = None
    other_op: str | None = None
    calls: int = 1
    resident: tuple = ()
    streamed: tuple = ()

    def __post_init__(self):
        for key in ("M", "K", "N", "value_bits", "activation_bits", "accumulator_bits", "groups"):
            value = getattr(self, key)
            if key == "accumulator_bits" and value is None:
                continue
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
        fp = self.footprint
        if fp is not None:
            _check_footprint(self)
            defaults["weight_value_bytes"] = fp.payload_bits / 8
            if self.weight_metadata_bytes is None:
                object.__setattr__(self, "weight_metadata_bytes", fp.metadata_bits / 8)
            if self.rank_metadata is None:
                object.__setattr__(self, "rank_metadata", tuple(
                    (r.format, int(r.metadata_bits)) for r in fp.per_rank))
            if self.effective_macs is None:
                object.__setattr__(self, "effective_macs", fp.nnz * self.N)
            if self.stored_macs is None:
                object.__setattr__(self, "stored_macs", min(fp.stored_values * self.N,
                                                            self.M * self.K * self.N))
        if self.weight_metadata_bytes is None:
            object.__setattr__(self, "weight_metadata_bytes", 0.0)
        if self.rank_metadata is None:
            object.__setattr__(self, "rank_metadata", ())
        if self.compute is None and self.weight_format is not None:
            object.__setattr__(self, "compute", getattr(self.weight_format, "compute", None))
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
        if self.compute is not None and self.compute not in COMPUTE_MODES:
            bad("compute", f"must be one of {COMPUTE_MODES} (or None: the hardware's support)")
        if self.op is not None and self.op not in OPS:
            bad("op", f"must be one of {OPS} (or None: a plain GEMM)")
        if self.other_op is not None and (self.op != "other" or not isinstance(
                self.other_op, str) or not self.other_op):
            bad("other_op", "names the kind of an op=\"other\" layer: a non-empty string")
        if isinstance(self.calls, bool) or not isinstance(self.calls, int) or self.calls < 0:
            bad("calls", "must be an int >= 0")
        for key in ("resident", "streamed"):
            value = getattr(self, key)
            if isinstance(value, list):
                object.__setattr__(self, key, value := tuple(value))
            if not isinstance(value, tuple) or any(r not in OPERANDS for r in value):
                bad(key, f"must be a tuple drawn from {OPERANDS}")
        self._validate_rank_metadata()
        self._validate_row_nnz()

    def _validate_rank_metadata(self):
        ranks = self.rank_metadata
        if isinstance(ranks, list):
            ranks = tuple(ranks)
        if not isinstance(ranks, tuple):
            raise TypeError(f"layer {self.name!r}: rank_metadata must be a tuple of "
                            f"(representation, bits) pairs, got {type(ranks).__name__}")
        ranks = tuple(tuple(r) if isinstance(r, list) else r for r in ranks)
        for i, r in enumerate(ranks):
            if not (isinstance(r, tuple) and len(r) == 2 and r[0] in REPRESENTATIONS
                    and _finite(r[1]) and r[1] >= 0):
                raise ValueError(f"layer {self.name!r}: rank_metadata[{i}] must be "
                                 f"(one of {', '.join(REPRESENTATIONS)}, bits >= 0), got {r!r}")
        object.__setattr__(self, "rank_metadata", ranks)
        if ranks:
            bits = sum(b for _, b in ranks)
            if not math.isclose(bits, self.weight_metadata_bytes * 8, rel_tol=1e-9, abs_tol=1e-9):
                raise ValueError(f"layer {self.name!r}: rank_metadata adds up to {bits:g} bits but "
                                 f"weight_metadata_bytes is {self.weight_metadata_bytes:g} B "
                                 f"({self.weight_metadata_bytes * 8:g} bits)")

    def _validate_row_nnz(self):
        rows = self.row_nnz
        if rows is None:
            return
        if isinstance(rows, (str, bytes)) or not hasattr(rows, "__len__"):
            raise TypeError(f"layer {self.name!r}: row_nnz must be a sequence of M ints, got "
                            f"{type(rows).__name__}")
        values = np.asarray(rows)     # vectorised: an estimate builds thousands of layers
        if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
            bad = next((v for v in np.ravel(np.asarray(rows, dtype=object))
                        if isinstance(v, bool) or not isinstance(v, numbers.Integral)), rows)
            raise ValueError(f"layer {self.name!r}: row_nnz holds {bad!r}; each must be an "
                             f"int in [0, K={self.K}]")
        if values.size and (values.min() < 0 or values.max() > self.K):
            bad = values[(values < 0) | (values > self.K)][0]
            raise ValueError(f"layer {self.name!r}: row_nnz holds {int(bad)!r}; each must be an "
                             f"int in [0, K={self.K}]")
        if values.size != self.M:
            raise ValueError(f"layer {self.name!r}: row_nnz has {values.size} entries, expected "
                             f"M={self.M}")
        values = values.tolist()
        object.__setattr__(self, "row_nnz", tuple(values))
        stored = sum(values) * self.N
        if not math.isclose(stored, self.stored_macs, rel_tol=1e-9, abs_tol=1e-9):
            raise ValueError(f"layer {self.name!r}: row_nnz adds up to {sum(values)} stored values "
                             f"({stored:g} MACs at N={self.N}) but stored_macs is "
                             f"{self.stored_macs:g}")

    def on(self, hw):
        """This layer with the hardware's defaults filled in (``accumulator_bits``)."""
        if self.accumulator_bits is not None:
            return self
        return replace(self, accumulator_bits=hw.compute.accumulator_bits)

    def compute_mode(self, hw):
        """"skip", "gate" or "none": this layer's ``compute``, else the hardware's support."""
        return self.compute or hw.compute.sparsity.support

    @property
    def format_name(self):
        """The weight format's name ("dense" when none is given and nothing is compressed)."""
        if self.weight_format is not None:
            return self.weight_format.name
        return self.structure

    @property
    def call_kind(self):
        """The kind of fixed cost one call pays (``Compute.call_cycles``): "sparse_conv" for
        a conv's compressed weight, "sparse" for another, else ``op`` (None: no fixed cost)."""
        if self.op is None:
            return None
        if self.structure == "dense":
            return self.op
        return "sparse_conv" if self.op == "conv" else "sparse"

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
        acc = 32 if self.accumulator_bits is None else self.accumulator_bits
        return (self.weight_bytes / (self.M * k), self.input_bytes / (self.groups * k * n),
                acc / 8)

    def with_density(self, density, structure="unstructured", metadata_bytes=0.0):
        """A copy pruned to ``density`` nonzero weights: values and MACs scale with it,
        metadata is what the caller's format needs (the bridge passes exact bytes). The
        format's footprint, per-rank metadata and per-row counts no longer apply: dropped."""
        if not 0 <= density <= 1:
            raise ValueError(f"density must be in [0, 1], got {density!r}")
        dense_values = self.M * self.K * self.value_bits / 8
        return replace(self, weight_value_bytes=dense_values * density,
                       weight_metadata_bytes=metadata_bytes,
                       effective_macs=self.dense_macs * density,
                       stored_macs=self.dense_macs * density, structure=structure,
                       footprint=None, rank_metadata=(), row_nnz=None)


def _check_footprint(layer):
    """A footprint must describe this layer's weight: M x K (per group stacked: M rows)."""
    fp = layer.footprint
    for key in ("payload_bits", "metadata_bits", "shape", "per_rank"):
        if not hasattr(fp, key):
            raise TypeError(f"layer {layer.name!r}: footprint must be a hwmodel.formats."
                            f"Footprint, got {type(fp).__name__}")
    if tuple(fp.shape) != (layer.M, layer.K):
        raise ValueError(f"layer {layer.name!r}: footprint is of a {fp.shape[0]}x{fp.shape[1]} "
                         f"weight, the layer's is {layer.M}x{layer.K}")


def _finite(value):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
