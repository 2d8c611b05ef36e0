"""What every compressed weight format shares: ownership of its arrays, shape bookkeeping, the
matmul front door (``A @ X`` and ``X @ A``) and the numpy/scipy-style conveniences."""
import numpy as np

from sparsekit.formats.arrays import check_float_dtype, float_array, is_torch
from sparsekit.formats.storage import Storage


class _SpecAccess:
    """``Format.spec(value_bits=32, index_bits=None, **params)`` on the class: the format's
    per-rank ``hwmodel.formats.FormatSpec``; ``A.spec`` on an instance: that spec with the
    widths ``A`` is packed with (its dtype's value bits, its index and pointer dtypes), so
    ``hf.footprint(A.spec, W != 0, value_bits=b).total_bytes == A.storage(value_bits=b).total``.
    """

    def __get__(self, obj, cls):
        if obj is None:
            return cls._class_spec
        return obj._instance_spec()

PRODUCTS = ("supported products: A @ X with X of shape (K,) or (K, N), numpy or torch "
            "(every format); X @ A with X of shape (M,) or (N, M) for CSR and BSR (through A.T)")


def read_only(attr: str, doc: str = "The stored values.") -> property:
    """A property giving a read-only view of the private array ``attr`` (the view's writeable
    flag cannot be turned back on, since the array it views is read-only)."""
    return property(lambda self: getattr(self, attr).view(), doc=f"{doc} Read-only.")


class SparseFormat:
    """A compressed M×K weight matrix. Subclasses set ``format`` and implement ``_setup``,
    ``_parts``, ``_spmv(x, y, epi)``, ``_spmm(X, Y, epi)``, ``_spmm_at(x, starts, out,
    epi)`` (``epi``: the kernels' bias, residual and relu, ``kernels.epilogue``),
    ``to_dense()``, ``storage()``, ``values``.

    **Ownership.** A format owns its arrays: the constructor copies the caller's values,
    indices, pointers and bitmap, validates the copies and makes them read-only
    (``flags.writeable = False``); the accessors (``data``, ``indices``, ...) return read-only
    views, whose flag cannot be turned back on. Nothing the caller does to its own arrays
    afterwards can reach the kernels, which trust the structure (they do not bounds-check).
    The objects are immutable: to change a matrix, build a new one. Writing into a format's
    memory by other routes (``torch.from_numpy`` of an accessor ignores the flag) is not
    supported: copy first.

    **NaN and inf** (the rule of scipy.sparse and torch.sparse): structural zeros, the entries a
    format does not store, are never multiplied; stored entries always are, zeros included.
    So with W = [[1, 0]] and x = [1, inf], CSR gives 1 (the 0 is not stored) while BSR with
    1×2 blocks gives nan (the block stores the 0, and 0·inf = nan), like the dense product.
    What is stored: CSR every entry != 0 of ``from_dense`` (NaN and inf included) and every
    entry passed to the constructor, explicit zeros included; BSR whole r×c blocks, VectorSkip
    whole length-V vectors (see each class). Edge padding outside the shape is never multiplied.

    **numpy.** ``np.asarray(A)`` raises (call ``A.to_dense()``); numpy defers ``X @ A`` to
    ``A.__rmatmul__`` (``__array_ufunc__ = None``).
    """

    format = "?"
    structure = "?"      # the pruning structure it suits: unstructured, block or vector
    params = ()          # the shared packing options from_dense takes: "block", "vector"
    order = 100          # place in listings
    spec = _SpecAccess()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        from sparsekit.formats import registry
        registry.register(cls)

    @classmethod
    def _class_spec(cls, value_bits: int = 32, index_bits=None, **params):
        """See ``_SpecAccess``: validates the widths, then the subclass's ``_spec``."""
        from sparsekit.formats.storage import check_index_bits, check_value_bits
        check_value_bits(value_bits)
        if index_bits is not None:
            check_index_bits(index_bits, 0)
        unknown = set(params) - set(cls.params)
        if unknown:
            raise TypeError(f"{cls.__name__}.spec() takes {cls.params or 'no format options'}"
                            f", got {sorted(unknown)}")
        return cls._spec(value_bits=value_bits, index_bits=index_bits, **params)

    @classmethod
    def _spec(cls, value_bits, index_bits, **params):  # pragma: no cover - subclasses
        raise NotImplementedError

    def _packed_widths(self):  # pragma: no cover - subclasses
        """(index bits, pointer bits, format options) as this matrix is packed."""
        raise NotImplementedError

    def _instance_spec(self):
        from dataclasses import replace
        index_bits, pointer_bits, params = self._packed_widths()
        s = self._class_spec(value_bits=self.dtype.itemsize * 8, index_bits=index_bits,
                             **params)
        ranks = tuple(replace(r, bits=pointer_bits, widths=None) if r.format == "UOP" else r
                      for r in s.ranks)
        return replace(s, ranks=ranks)

    __array_ufunc__ = None  # numpy operators return NotImplemented: X @ A -> A.__rmatmul__
    __array_priority__ = 1000

    @classmethod
    def _adopt(cls, *parts):
        """A format over arrays this package has just created, which nobody else holds:
        validated and frozen like the constructor's, but not copied (from_dense, .T)."""
        obj = cls.__new__(cls)
        obj._setup(*parts, copy=False)
        return obj

    def _setup(self, *parts, copy: bool):  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def _parts(self) -> tuple:  # pragma: no cover - every subclass overrides
        """The constructor's arguments that rebuild this matrix (values first)."""
        raise NotImplementedError

    def __reduce__(self):  # pickle and copy.deepcopy rebuild through the validating constructor
        return type(self), self._parts()

    # -- arrays by role: how code that stores a format generically (the sparse layers'
    # buffers) takes it apart and rebuilds it, without knowing which format it is -----------
    roles: tuple = ()   # subclasses: the role of each constructor array, in order, out of
                        # "values", "indices", "pointers", "bitmap"

    def arrays(self) -> dict:
        """{role: read-only array} of this matrix (see ``roles``)."""
        return {role: a.view() for role, a in zip(self.roles, self._parts()[:-1])}

    @classmethod
    def from_arrays(cls, arrays: dict, shape):
        """The matrix made of ``arrays`` ({role: array}, as ``arrays()`` gives), validated."""
        missing = [r for r in cls.roles if r not in arrays]
        if missing:
            raise ValueError(f"a {cls.format} matrix needs {', '.join(missing)}, which "
                             f"{'is' if len(missing) == 1 else 'are'} missing")
        return cls(*(arrays[r] for r in cls.roles), shape)

    def options(self) -> dict:
        """The packing options of this matrix ({"block": (r, c)}, {"vector": V} or {})."""
        return dict(self._packed_widths()[2])

    # -- sizes ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def ndim(self) -> int:
        return 2

    @property
    def values(self) -> np.ndarray:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @property
    def nnz(self) -> int:
        """True nonzeros (NaN and inf count; stored zeros do not)."""
        return int(np.count_nonzero(self.values))

    @property
    def stored(self) -> int:
        """Values the format keeps, zeros inside blocks or vectors included."""
        return int(self.values.size)

    @property
    def density(self) -> float:
        m, k = self.shape
        return self.nnz / (m * k) if m * k else 0.0

    @property
    def sparsity(self) -> float:
        return 1.0 - self.density if self.shape[0] * self.shape[1] else 0.0

    def storage(self, value_bits: int | None = None, index_bits: int | None = None) -> Storage:
        raise NotImplementedError  # pragma: no cover

    def to_dense(self) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def toarray(self) -> np.ndarray:
        """Alias of ``to_dense()`` (scipy's name): a new, writable numpy array."""
        return self.to_dense()

    def todense(self) -> np.ndarray:
        """Alias of ``to_dense()``: a numpy array (not scipy's np.matrix)."""
        return self.to_dense()

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"np.asarray() of a sparse {type(self).__name__} would not densify "
                        "it; call A.to_dense() (or A.toarray()) for a dense numpy array")

    def copy(self):
        """An independent copy (new arrays, validated like any constructed matrix)."""
        return type(self)(*self._parts())

    def astype(self, dtype):
        """The same structure with values cast to ``dtype`` (float32 or float64): a new matrix."""
        dtype = check_float_dtype(dtype, "dtype")
        values, *rest = self._parts()
        return type(self)(values.astype(dtype), *rest)

    @property
    def T(self):  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def __repr__(self) -> str:
        m, k = self.shape
        return (f"<{type(self).__name__} {m}×{k} {self.dtype}, nnz={self.nnz}, "
                f"stored={self.stored}, density={self.density:.4f}{self._repr_extra()}>")

    def _repr_extra(self) -> str:
        return ""

    # -- products ------------------------------------------------------------------------
    def __matmul__(self, X):
        return self.matmul(X)

    def __rmatmul__(self, X):
        """X @ A = (Aᵀ @ Xᵀ)ᵀ for CSR and BSR, whose transpose ``A.T`` is built on each call
        (O(stored) work and memory; keep ``At = A.T`` to reuse it); the result is a
        transposed view. Other formats raise a TypeError listing the supported products."""
        if isinstance(X, SparseFormat):
            raise TypeError(f"sparse @ sparse is not supported; {PRODUCTS}")
        if not (is_torch(X) or isinstance(X, np.ndarray)):
            X = np.asarray(X)
        m, k = self.shape
        if X.ndim not in (1, 2) or X.shape[-1] != m:
            raise ValueError(f"shape mismatch in X @ A: A is {m}×{k}, so X must have shape "
                             f"({m},) or (N, {m}); got {tuple(X.shape)}")
        try:
            transposed = self.T
        except TypeError as e:
            raise TypeError(f"X @ A is not supported for {type(self).__name__} ({e}); "
                            f"{PRODUCTS}") from None
        return transposed.matmul(X) if X.ndim == 1 else transposed.matmul(X.T).T

    def matmul(self, X, out=None, bias=None, residual=None, relu=False):
        """Y = A @ X (+ bias) (+ residual), then ReLU if ``relu``, for X of shape (K,) or
        (K, N), numpy or torch (result of the same kind), any strides, the same float dtype
        as A. ``out`` (numpy or torch) receives Y. ``bias`` (M values) is added to row i of Y,
        ``residual`` (Y's shape) to Y, both numpy or torch of A's dtype, inside the kernel, as
        is the ReLU: what a layer, a ResNet block's skip connection and its activation do,
        without another pass over Y."""
        if isinstance(X, SparseFormat):
            raise TypeError(f"sparse @ sparse is not supported; {PRODUCTS}")
        torch_in = is_torch(X)
        x = float_array(X, "X")
        if x.ndim not in (1, 2):
            raise ValueError(f"X must be 1-D or 2-D, got shape {x.shape}")
        if x.dtype != self.dtype:
            raise TypeError(f"dtype mismatch: A is {self.dtype}, X is {x.dtype}; cast one")
        m, k = self.shape
        if x.shape[0] != k:
            raise ValueError(f"shape mismatch: A is {m}×{k} but X has {x.shape[0]} rows "
                             f"(shape {x.shape})")
        x = np.ascontiguousarray(x)
        out_shape = (m,) + x.shape[1:]
        y = self._output(out, out_shape)
        if np.may_share_memory(x, y):  # the kernels read X while writing Y
            x = x.copy()
        target = y if y.flags.c_contiguous else np.empty(out_shape, self.dtype)
        epi = self._epilogue(bias, residual, relu, target)
        if x.ndim == 1:
            self._spmv(x, target, epi)
        else:
            self._spmm(x, target, epi)
        if target is not y:
            y[...] = target
        if out is not None:
            return out
        if torch_in:
            import torch
            return torch.from_numpy(y)
        return y

    # Whether ``_spmm_at`` takes ``segments`` (a conv's output rows written in place).
    SEGMENTS = False

    def _product(self, x, y, bias=None, residual=None, relu=False, starts=None,
                 segments=None):
        """``matmul``'s kernels without its checks and conversions, for a sparse layer's
        forward, whose arrays are already what the kernels take (one thread, one process,
        interleaved: the 4096-wide MLP at batch 1 1.031x faster, resnet50 1.013x): ``x``
        (K,) or (K, N) and a fresh ``y`` (M,) or (M, N), C-contiguous numpy arrays of A's
        dtype; ``bias`` the layer's own (M values of that dtype) or None; ``residual`` None
        or a C-contiguous array of y's shape and dtype. With ``starts``, ``x`` is a flat
        buffer read as ``matmul_rows_at`` reads it, every row inside it by the layer's own
        geometry, and ``segments`` (where ``SEGMENTS``): y's columns in that many segments
        of ``width``, segment s read from ``x_pitch`` · s columns on (``kernels.csr_spmm``).
        Returns y."""
        epi = (bias, residual, bool(relu))
        if segments is not None:
            self._spmm_at(x, starts, y, epi, segments)
        elif starts is not None:
            self._spmm_at(x, starts, y, epi)
        else:
            (self._spmv if x.ndim == 1 else self._spmm)(x, y, epi)
        return y

    def _output(self, out, shape) -> np.ndarray:
        if out is None:
            return np.empty(shape, self.dtype)
        y = float_array(out, "out")
        if y.shape != shape:
            raise ValueError(f"out must have shape {shape}, got {y.shape}")
        if y.dtype != self.dtype:
            raise TypeError(f"out must be {self.dtype}, got {y.dtype}")
        if not y.flags.writeable:
            raise ValueError("out is read-only")
        return y

    def _bias(self, bias):
        """``bias`` as the kernels take it: None, or M contiguous values of A's dtype. A sparse
        layer's own bias (already that) passes through without conversion: every forward
        hands it over."""
        if bias is None:
            return None
        if isinstance(bias, np.ndarray) and bias.dtype == self.dtype and \
                bias.shape == (self.shape[0],) and bias.flags.c_contiguous:
            return bias
        b = np.ascontiguousarray(float_array(bias, "bias"))
        if b.shape != (self.shape[0],):
            raise ValueError(f"bias must have shape ({self.shape[0]},), one value per row of "
                             f"A, got {b.shape}")
        if b.dtype != self.dtype:
            raise TypeError(f"dtype mismatch: A is {self.dtype}, bias is {b.dtype}; cast one")
        return b

    def _epilogue(self, bias, residual, relu, y):
        """(bias, residual, relu) as the kernels take them, for output ``y``: each checked
        and converted (``_bias``, ``_residual``)."""
        if not isinstance(relu, (bool, np.bool_)):
            raise TypeError(f"relu must be a bool, got {type(relu).__name__}")
        return self._bias(bias), self._residual(residual, y), bool(relu)

    def _residual(self, residual, y):
        """``residual`` as the kernels take it: None, or an array of ``y``'s shape and dtype,
        C-contiguous (it may be ``y`` itself: see ``kernels.epilogue``)."""
        if residual is None:
            return None
        r = float_array(residual, "residual")
        if r.shape != y.shape:
            raise ValueError(f"residual must have the output's shape {y.shape}, got {r.shape}")
        if r.dtype != self.dtype:
            raise TypeError(f"dtype mismatch: A is {self.dtype}, residual is {r.dtype}; "
                            f"cast one")
        return np.ascontiguousarray(r)

    def matmul_rows_at(self, x, starts, out, bias=None, residual=None, relu=False):
        """out (M, N) = A @ X (+ bias) (+ residual), then ReLU if ``relu`` (as ``matmul``),
        where row k of X is ``x[starts[k] : starts[k] + N]`` of the flat C-contiguous buffer
        ``x`` (rows may overlap). A convolution reads its padded image, split into stride
        phases, this way as its im2col matrix, without building it. Checked so that the
        kernel never reads or writes outside the arrays."""
        m, k = self.shape
        dtype = self.dtype
        ok = (isinstance(x, np.ndarray) and x.ndim == 1 and x.dtype == dtype
              and x.flags.c_contiguous and isinstance(out, np.ndarray) and out.ndim == 2
              and out.shape[0] == m and out.dtype == dtype and out.flags.c_contiguous
              and out.flags.writeable and isinstance(starts, np.ndarray)
              and starts.dtype == np.int64 and starts.shape == (k,))
        if ok and k and out.shape[1]:
            ok = starts.min() >= 0 and starts.max() + out.shape[1] <= x.shape[0]
        if not ok:
            raise ValueError(
                f"matmul_rows_at needs a flat C-contiguous {dtype} x, int64 starts of length "
                f"{k} with every row inside x, and a writable C-contiguous {dtype} out of "
                f"{m} rows; got x {getattr(x, 'shape', type(x).__name__)}, starts "
                f"{getattr(starts, 'shape', type(starts).__name__)}, out "
                f"{getattr(out, 'shape', type(out).__name__)}")
        if out.size:
            self._spmm_at(x, starts, out, self._epilogue(bias, residual, relu, out))
        return out

    def _spmv(self, x, y, epi):
        raise NotImplementedError  # pragma: no cover

    def _spmm(self, X, Y, epi):
        raise NotImplementedError  # pragma: no cover

    def _spmm_at(self, x, starts, out, epi):
        raise NotImplementedError  # pragma: no cover
