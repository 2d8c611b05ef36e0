"""A matrix transposed into a new C-contiguous one: a sparse Linear's input (N, K) becomes the
kernels' X (K, N).

torch copies a transposed view one element at a time: 150 µs for the 64 × 4096 float32 input
of an MLP at batch 64 (0.29 ms of its 9.4 ms forward, one thread, the input cold). Here each
16 × 16 block (8 × 8 in float64) is loaded as 16 SIMD rows, transposed in registers by four
rounds of two-vector shuffles, and stored as 16 rows; the edges that do not fill a block go
element by element.
"""
import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .simd import _int64, _pointer, _vec_of, lanes


def _swap_masks(lanes_: int, bit: int):
    """The shuffle masks of one round: rows r and r + bit (bit clear in r) exchange the lanes
    where the column's ``bit`` differs from the row's, i.e. element (r, c) with ``bit`` set
    in c goes to (r + bit, c − bit) and back. Lanes of the first row are 0..L−1, of the
    second L..2L−1 in LLVM's two-vector shuffle."""
    first = [c if not c & bit else lanes_ + c - bit for c in range(lanes_)]
    second = [c + bit if not c & bit else lanes_ + c for c in range(lanes_)]
    return first, second


@intrinsic
def _transpose_block(typingctx, src, src_at, src_pitch, dst, dst_at, dst_pitch):
    """dst[dst_at + c·dst_pitch + r] = src[src_at + r·src_pitch + c] for r, c < L (the lane
    count): one L × L block, in registers. Offsets index the flat buffers and are trusted."""
    vec = _vec_of(src)
    if _vec_of(dst) != vec or not all(isinstance(t, types.Integer) for t in
                                      (src_at, src_pitch, dst_at, dst_pitch)):
        return None
    count = vec.lanes

    def codegen(context, builder, sig, args):
        s, s_at, s_pitch, d, d_at, d_pitch = args
        s_at, s_pitch = (_int64(context, builder, v, t) for v, t in
                         ((s_at, sig.args[1]), (s_pitch, sig.args[2])))
        d_at, d_pitch = (_int64(context, builder, v, t) for v, t in
                         ((d_at, sig.args[4]), (d_pitch, sig.args[5])))
        rows = []
        for r in range(count):
            at = builder.add(s_at, builder.mul(s_pitch, ir.Constant(ir.IntType(64), r)))
            rows.append(builder.load(_pointer(context, builder, sig.args[0], s, at, vec),
                                     align=4))
        bit = 1
        while bit < count:
            first, second = _swap_masks(count, bit)
            mask_a = ir.Constant(ir.VectorType(ir.IntType(32), count), first)
            mask_b = ir.Constant(ir.VectorType(ir.IntType(32), count), second)
            for r in range(count):
                if not r & bit:
                    a, b = rows[r], rows[r + bit]
                    rows[r] = builder.shuffle_vector(a, b, mask_a)
                    rows[r + bit] = builder.shuffle_vector(a, b, mask_b)
            bit *= 2
        for c in range(count):
            at = builder.add(d_at, builder.mul(d_pitch, ir.Constant(ir.IntType(64), c)))
            builder.store(rows[c], _pointer(context, builder, sig.args[3], d, at, vec), align=4)
        return context.get_dummy_value()
    return types.none(src, src_at, src_pitch, dst, dst_at, dst_pitch), codegen


@numba.njit(cache=True)
def _transpose(src, dst):
    n, k = src.shape
    step = lanes(src)
    whole_n, whole_k = n - n % step, k - k % step
    flat_src = src.reshape(src.size)
    flat_dst = dst.reshape(dst.size)
    for j in range(0, whole_k, step):       # dst's rows j .. j + L, written in order
        for i in range(0, whole_n, step):
            _transpose_block(flat_src, i * k + j, k, flat_dst, j * n + i, n)
    for j in range(whole_k, k):             # the edges
        for i in range(n):
            dst[j, i] = src[i, j]
    for j in range(whole_k):
        for i in range(whole_n, n):
            dst[j, i] = src[i, j]


def transpose(src, dst):
    """dst[:] = src.T for C-contiguous float32/float64 ``src`` (N, K) and ``dst`` (K, N) of
    its dtype (checked by the caller: the kernel trusts the shapes). Returns dst."""
    _transpose(src, dst)
    return dst
