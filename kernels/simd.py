"""Explicit SIMD accumulators for Numba kernels: one 64-byte vector (16 float32 or 8 float64
lanes) that LLVM keeps in a register across a loop.

Why: an SpMM row loop written with scalar locals or tuples is not vectorised by LLVM (Numba's
signed index wraparound and aggregate conversions defeat its SLP vectoriser), and the
``Y[i, :] += a * X[j, :]`` form loads and stores the output row once per stored nonzero. A
value of type ``Vec`` is an LLVM ``<lanes x float>``: a loop-carried ``Vec`` lives in one
register, so a row's nonzeros accumulate without touching memory.

The intrinsics index an array by element offset into its C-contiguous buffer and trust it
(no bounds checks, as every kernel here: the format classes validate before calling):
- ``vzero(a)``: a zero vector of ``a``'s dtype;
- ``vload_first(a, off, count)``: a[off : off + count] in the first ``count`` lanes (0 in the
  others), and ``vstore_first(a, off, v, count)``: a[off : off + count] = v[:count]; masked:
  nothing past the first ``count`` elements is read or written (a full vector when count is
  the lane count; on AVX-512 a masked load costs what a plain one does);
- ``vsplat_at(b, i, a)``: b[i] in every lane (a vector of a's dtype), or zero where i is past
  the end of b (a bias, possibly empty, for row i);
- ``vfma(acc, s, v)``: acc + s · v, one fused multiply-add per lane (s broadcast);
- ``vadd(u, v)``: u + v;
- ``vfmav(acc, u, v)``: acc + u · v, lane by lane;
- ``vload_quads(a, off, count)``: a[off : off + count] (count ≤ 4) in lanes 4g .. 4g + count
  of every group g of four lanes, zero in the others: a 4-wide x against a whole 4×4 block
  (``vquad_sum`` then adds each block row's four lanes);
- ``vquad_sum(v, g)``: the sum of lanes 4g .. 4g + 3 (g < lanes / 4, unchecked);
- ``vsplat_halves(a, i, j, like)``: a[i] in the low half of the lanes, a[j] in the high half
  (two length-8 float32 vectors times their two x values in one FMA);
- ``vhalves_sum(v, k)``: lane k plus lane k + lanes / 2 (k < lanes / 2, unchecked);
- ``vstore_finish(a, off, v, count, added, residual, relu)``: ``vstore_first`` of v
  finished by a kernel's epilogue (``kernels.epilogue``);
- ``lanes(a)``: the lane count for ``a``'s dtype (a compile-time constant);
- ``prefetch(a, off)``: ask the caches for the line holding a[off], a C-contiguous array of
  any dtype (a hint: it never faults, so ``off`` may lie past the end).
"""
from typing import NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

VECTOR_BYTES = 64   # one AVX-512 register; LLVM splits it into two on AVX2 machines
PANEL_BYTES = 4 * VECTOR_BYTES   # one X row of an SpMM's four-vector panel


class Vec(types.Type):
    """A SIMD vector of ``VECTOR_BYTES`` bytes of ``dtype`` (float32 or float64)."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = VECTOR_BYTES // (dtype.bitwidth // 8)
        super().__init__(name=f"Vec({dtype}x{self.lanes})")


@register_model(Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = ir.FloatType() if fe_type.dtype == types.float32 else ir.DoubleType()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.lanes))


def _vec_of(array_type):
    """The vector type for ``array_type``: a C-contiguous float32/float64 array (offsets index
    its flat buffer, so any other layout is refused when the kernel compiles)."""
    if not isinstance(array_type, types.Array) or array_type.layout != "C" \
            or array_type.dtype not in (types.float32, types.float64):
        raise TypeError(f"SIMD intrinsics need a C-contiguous float32/float64 array, got "
                        f"{array_type}")
    return Vec(array_type.dtype)


def _vector_type(context, shape):
    """The LLVM vector type of ``shape`` (a ``Vec`` or ``_Lanes``: a dtype and a lane count)."""
    return ir.VectorType(context.get_value_type(shape.dtype), shape.lanes)


def _pointer(context, builder, array_type, array, offset, shape):
    """Address of element ``offset`` of ``array``, as a pointer to a vector of ``shape``."""
    data = context.make_array(array_type)(context, builder, array).data
    element = builder.gep(data, [offset])
    return builder.bitcast(element, _vector_type(context, shape).as_pointer())


@intrinsic
def lanes(typingctx, array):
    count = _vec_of(array).lanes

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, count)
    return types.intp(array), codegen


@intrinsic
def vzero(typingctx, array):
    vec = _vec_of(array)

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(vec), None)
    return vec(array), codegen


class _Lanes(NamedTuple):
    """A vector shape that is not a ``Vec`` (the four lanes ``vload_quads`` loads)."""
    dtype: types.Type
    lanes: int


def _suffix(vec):
    return f"v{vec.lanes}f{vec.dtype.bitwidth}"


def _mask(builder, vec, count):
    """<lanes x i1>: lane k is on when k < count (count an int64)."""
    index = ir.Constant(ir.VectorType(ir.IntType(64), vec.lanes), list(range(vec.lanes)))
    return builder.icmp_unsigned("<", index, _splat(builder, count, vec.lanes))


def _splat(builder, scalar, lanes):
    undef = ir.Constant(ir.VectorType(scalar.type, lanes), ir.Undefined)
    one = builder.insert_element(undef, scalar, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
    return builder.shuffle_vector(one, undef, zeros)


def _fma(builder, vec, vty, a, b, acc):
    """acc + a · b, lane by lane, fused."""
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3),
                                         f"llvm.fma.{_suffix(vec)}")
    return builder.call(fma, [a, b, acc])


def _masked_load(builder, vec, vty, pointer, mask):
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vty, [pointer.type, ir.IntType(32), mask.type, vty]),
        f"llvm.masked.load.{_suffix(vec)}.p0")
    return builder.call(fn, [pointer, ir.Constant(ir.IntType(32), 4), mask,
                             ir.Constant(vty, None)])


def _masked_store(builder, vec, value, pointer, mask):
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [value.type, pointer.type,
                                                        ir.IntType(32), mask.type]),
        f"llvm.masked.store.{_suffix(vec)}.p0")
    builder.call(fn, [value, pointer, ir.Constant(ir.IntType(32), 4), mask])


def _int64(context, builder, value, typ):
    return context.cast(builder, value, typ, types.int64)


def _load_typing(array, offset, count):
    """The vector type a load of ``count`` elements from ``array`` at ``offset`` returns, or
    None where the arguments do not fit (then Numba tries other signatures)."""
    vec = _vec_of(array)
    if not isinstance(offset, types.Integer) or not isinstance(count, types.Integer):
        return None
    return vec


def _load_first(context, builder, shape, array_type, array, offset, count):
    """array[offset : offset + count] (int64 offset and count) in the first lanes of
    ``shape`` (a ``Vec`` or ``_Lanes``), zero in the others; nothing past count is read."""
    pointer = _pointer(context, builder, array_type, array, offset, shape)
    return _masked_load(builder, shape, _vector_type(context, shape), pointer,
                        _mask(builder, shape, count))


def _load_args(context, builder, sig, args):
    """A load intrinsic's (array, offset, count) as ``_load_first`` takes them."""
    return (sig.args[0], args[0], _int64(context, builder, args[1], sig.args[1]),
            _int64(context, builder, args[2], sig.args[2]))


@intrinsic
def vload_first(typingctx, array, offset, count):
    vec = _load_typing(array, offset, count)
    if vec is None:
        return None

    def codegen(context, builder, sig, args):
        return _load_first(context, builder, vec, *_load_args(context, builder, sig, args))
    return vec(array, offset, count), codegen


@intrinsic
def vsplat_at(typingctx, values, index, like):
    vec = _vec_of(like)
    if not (isinstance(values, types.Array) and values.ndim == 1 and values.dtype == vec.dtype
            and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        array = context.make_array(sig.args[0])(context, builder, args[0])
        i = _int64(context, builder, args[1], sig.args[1])
        inside = builder.icmp_signed("<", i, builder.extract_value(array.shape, 0))
        element = context.get_value_type(vec.dtype)
        start = builder.basic_block
        with builder.if_then(inside):
            loaded = builder.load(builder.gep(array.data, [i]))
            loaded_in = builder.basic_block
        value = builder.phi(element)
        value.add_incoming(ir.Constant(element, 0.0), start)
        value.add_incoming(loaded, loaded_in)
        return _splat(builder, value, vec.lanes)
    return vec(values, index, like), codegen


@intrinsic
def vstore_finish(typingctx, array, offset, value, count, added, residual, relu):
    """array[offset : offset + count] = the first ``count`` lanes of relu?(value + added +
    residual[offset : offset + count]) (``kernels.epilogue``; ``added``: the row's bias in
    every lane, from ``vsplat_at``). ``residual`` is None or an array laid out as ``array``;
    ``relu`` None or True (the ReLU: a select against zero that keeps NaN). A None emits
    nothing, so a product without them compiles to what ``vstore_first`` of value + added
    does. (Emitted in place: as an njit function taking the residual and relu, LLVM left it
    out of line and the SpMM kernels ran 2-9x slower; with an empty residual array in
    place of None, 1.6x slower at K = 64 even without a residual.)"""
    vec = _vec_of(array)
    no_residual = isinstance(residual, types.NoneType)
    no_relu = isinstance(relu, types.NoneType)
    if value != vec or added != vec or not isinstance(offset, types.Integer) \
            or not isinstance(count, types.Integer) \
            or not (no_residual or _vec_of(residual) == vec) \
            or not (no_relu or isinstance(relu, types.Boolean)):
        return None

    def codegen(context, builder, sig, args):
        arr, off, v, n, plus, res, rl = args
        vty = context.get_value_type(vec)
        off = _int64(context, builder, off, sig.args[1])
        mask = _mask(builder, vec, _int64(context, builder, n, sig.args[3]))
        v = builder.fadd(v, plus)
        if not no_residual:
            res_ptr = _pointer(context, builder, sig.args[5], res, off, vec)
            v = builder.fadd(v, _masked_load(builder, vec, vty, res_ptr, mask))
        if not no_relu:   # a ReLU is on whenever relu is not None (kernels.epilogue)
            zero = ir.Constant(vty, None)
            v = builder.select(builder.fcmp_ordered("<=", v, zero), zero, v)
        _masked_store(builder, vec, v, _pointer(context, builder, sig.args[0], arr, off, vec),
                      mask)
        return context.get_dummy_value()
    return types.none(array, offset, value, count, added, residual, relu), codegen


@intrinsic
def vfma(typingctx, acc, scalar, value):
    if not isinstance(acc, Vec) or value != acc or scalar != acc.dtype:
        return None

    def codegen(context, builder, sig, args):
        acc_v, s, v = args
        vec = sig.args[0]
        return _fma(builder, vec, context.get_value_type(vec), _splat(builder, s, vec.lanes),
                    v, acc_v)
    return acc(acc, scalar, value), codegen


@intrinsic
def vadd(typingctx, u, v):
    if not isinstance(u, Vec) or v != u:
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1])
    return u(u, v), codegen


@intrinsic
def vfmav(typingctx, acc, u, v):
    if not isinstance(acc, Vec) or u != acc or v != acc:
        return None

    def codegen(context, builder, sig, args):
        vec = sig.args[0]
        return _fma(builder, vec, context.get_value_type(vec), args[1], args[2], args[0])
    return acc(acc, u, v), codegen


@intrinsic
def vload_quads(typingctx, array, offset, count):
    vec = _load_typing(array, offset, count)
    if vec is None:
        return None

    def codegen(context, builder, sig, args):
        loaded = _load_first(context, builder, _Lanes(vec.dtype, 4),
                             *_load_args(context, builder, sig, args))
        repeat = ir.Constant(ir.VectorType(ir.IntType(32), vec.lanes),
                             [k % 4 for k in range(vec.lanes)])
        return builder.shuffle_vector(loaded, ir.Constant(loaded.type, ir.Undefined), repeat)
    return vec(array, offset, count), codegen


@intrinsic
def vquad_sum(typingctx, value, group):
    if not isinstance(value, Vec) or not isinstance(group, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        first = builder.mul(builder.trunc(_int64(context, builder, args[1], sig.args[1]),
                                          ir.IntType(32)), ir.Constant(ir.IntType(32), 4))
        lane = [builder.extract_element(args[0], builder.add(first, ir.Constant(first.type, k)))
                for k in range(4)]
        return builder.fadd(builder.fadd(lane[0], lane[1]), builder.fadd(lane[2], lane[3]))
    return value.dtype(value, group), codegen


@intrinsic
def vsplat_halves(typingctx, values, i, j, like):
    vec = _vec_of(like)
    if not (isinstance(values, types.Array) and values.dtype == vec.dtype
            and isinstance(i, types.Integer) and isinstance(j, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        array = context.make_array(sig.args[0])(context, builder, args[0])
        element = context.get_value_type(vec.dtype)
        pair = ir.Constant(ir.VectorType(element, 2), ir.Undefined)
        for lane, (index, typ) in enumerate(zip(args[1:3], sig.args[1:3])):
            value = builder.load(builder.gep(array.data, [_int64(context, builder, index, typ)]))
            pair = builder.insert_element(pair, value, ir.Constant(ir.IntType(32), lane))
        half = vec.lanes // 2
        select = ir.Constant(ir.VectorType(ir.IntType(32), vec.lanes), [0] * half + [1] * half)
        return builder.shuffle_vector(pair, ir.Constant(pair.type, ir.Undefined), select)
    return vec(values, i, j, like), codegen


@intrinsic
def vhalves_sum(typingctx, value, lane):
    if not isinstance(value, Vec) or not isinstance(lane, types.Integer):
        return None
    half = value.lanes // 2

    def codegen(context, builder, sig, args):
        low = builder.trunc(_int64(context, builder, args[1], sig.args[1]), ir.IntType(32))
        high = builder.add(low, ir.Constant(ir.IntType(32), half))
        return builder.fadd(builder.extract_element(args[0], low),
                            builder.extract_element(args[0], high))
    return value.dtype(value, lane), codegen


@intrinsic
def vstore_first(typingctx, array, offset, value, count):
    vec = _vec_of(array)
    if value != vec or not isinstance(offset, types.Integer) \
            or not isinstance(count, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        arr, off, v, n = args
        pointer = _pointer(context, builder, sig.args[0], arr,
                           _int64(context, builder, off, sig.args[1]), vec)
        _masked_store(builder, vec, v, pointer,
                      _mask(builder, vec, _int64(context, builder, n, sig.args[3])))
        return context.get_dummy_value()
    return types.none(array, offset, value, count), codegen


@intrinsic
def prefetch(typingctx, array, offset):
    if not isinstance(array, types.Array) or array.layout != "C" \
            or not isinstance(offset, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        element = builder.gep(data, [_int64(context, builder, args[1], sig.args[1])])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")
        # read, keep in every cache level, data
        builder.call(fn, [builder.bitcast(element, i8p), ir.Constant(i32, 0),
                          ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.none(array, offset), codegen


@numba.njit(cache=True)
def vfma_pair(a, b, s, xa, xb):
    """(a + s·xa, b + s·xb): one weight times both vectors of an X row's two-vector panel."""
    return vfma(a, s, xa), vfma(b, s, xb)


@numba.njit(cache=True)
def row_start(starts, k, n):
    """Where row k of an SpMM's X starts in X's flat buffer: k·n for a plain K × n X, else
    ``starts[k]`` (rows read in place, e.g. a padded image as its im2col matrix). ``starts is
    None`` is decided when the kernel compiles, not per nonzero."""
    if starts is None:
        return np.int64(k) * n
    return starts[k]


@numba.njit(cache=True)
def row_count(starts, X):
    """K, the rows of an SpMM's X: ``len(starts)`` when given, else X's first dimension."""
    if starts is None:
        return X.shape[0]
    return starts.shape[0]


@numba.njit(cache=True)
def x_row(X, starts, k, n):
    """Row k of an SpMM's X as a 1-D view of its n values (see ``row_start``)."""
    o = row_start(starts, k, n)
    return X.reshape(X.size)[o:o + n]
