"""The format registry: each executable format's spec counts exactly what it packs, and every
listing of formats derives from the registry."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import sparsekit as sk
from hwmodel import formats as hf
from sparsekit.formats import registry


@st.composite
def weights(draw):
    m = draw(st.integers(0, 40))
    k = draw(st.integers(0, 300))
    density = draw(st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, k)).astype(draw(st.sampled_from([np.float32, np.float64])))
    return w * (rng.random((m, k)) < density)


def _packed(draw_fmt, w):
    name, option = draw_fmt
    cls = registry.get(name)
    return cls.from_dense(w, **option) if option else cls.from_dense(w)


FORMAT = st.one_of(
    st.just(("csr", {})),
    st.tuples(st.just("bsr"), st.fixed_dictionaries(
        {"block": st.sampled_from([(1, 1), (4, 4), (2, 8), (8, 1), (3, 5), (16, 16)])})),
    st.tuples(st.just("vectorskip"), st.fixed_dictionaries(
        {"vector": st.sampled_from([1, 2, 4, 8, 16, 5])})))


@settings(max_examples=300, deadline=None)
@given(w=weights(), fmt=FORMAT, value_bits=st.sampled_from([8, 16, 32, 64]))
def test_spec_footprint_equals_storage(w, fmt, value_bits):
    a = _packed(fmt, w)
    fp = hf.footprint(a.spec, w != 0, value_bits=value_bits)
    st_ = a.storage(value_bits=value_bits)
    assert fp.total_bytes == st_.total
    assert fp.payload_bits == st_.values * 8
    assert fp.metadata_bits == st_.metadata * 8
    assert fp.stored_values == a.stored


@settings(max_examples=100, deadline=None)
@given(w=weights(), fmt=FORMAT, value_bits=st.sampled_from([8, 16, 32, 64]),
       index_bits=st.sampled_from([None, 16, 32, 64]))
def test_class_spec_matches_storage_at_any_index_width(w, fmt, value_bits, index_bits):
    """``Format.spec(value_bits, index_bits, ...)`` prices what ``storage(value_bits,
    index_bits)`` counts (VectorSkip: index_bits is its pointer width)."""
    a = _packed(fmt, w)
    name, option = fmt
    try:
        st_ = a.storage(value_bits=value_bits, index_bits=index_bits)
    except ValueError:
        return                                   # a width too small for this matrix
    spec = registry.get(name).spec(value_bits=value_bits, index_bits=index_bits, **option)
    fp = hf.footprint(spec, w != 0)
    assert fp.total_bytes == st_.total


def test_registry_lists_the_executable_formats_in_order():
    assert registry.names() == ("csr", "bsr", "vectorskip")
    assert sk.FORMATS is registry.FORMATS
    assert registry.structures() == {"csr": "unstructured", "bsr": "block",
                                     "vectorskip": "vector"}
    assert registry.structure_of("dense") == "dense"


def test_pack_and_spec_take_the_shared_options():
    w = np.eye(9, dtype=np.float32)
    assert registry.pack(w, "bsr", block=(3, 3)).block == (3, 3)
    assert registry.pack(w, "vectorskip", vector=2).vector == 2
    assert registry.pack(w, "csr", block=(3, 3), vector=2).nnz == 9
    assert registry.spec("bsr", 16, block=(2, 8)).tile == (("K", 8), ("M", 2))
    assert registry.spec("vectorskip", 8, vector=4).value_bits == 8


@pytest.mark.parametrize("call, match", [
    (lambda: registry.get("coo"), "unknown format 'coo'"),
    (lambda: registry.pack(np.eye(3), "nope"), "unknown format 'nope'"),
    (lambda: sk.CSR.spec(value_bits=12), "value_bits"),
    (lambda: sk.CSR.spec(index_bits=7), "index_bits"),
    (lambda: sk.BSR.spec(block=(0, 4)), "block"),
    (lambda: sk.VectorSkip.spec(vector=0), "vector length"),
])
def test_bad_names_and_widths_raise_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_spec_rejects_options_the_format_does_not_take():
    with pytest.raises(TypeError, match="CSR.spec.*vector"):
        sk.CSR.spec(vector=8)


def test_a_new_format_class_registers_itself():
    class Diag(sk.CSR):
        format, structure, params, order = "diag-test", "unstructured", (), 99
    try:
        assert registry.names()[-1] == "diag-test"
        assert registry.get("diag-test") is Diag
    finally:
        del registry.FORMATS["diag-test"]
    assert "diag-test" not in registry.names()


@pytest.mark.parametrize("fmt, option", [("csr", {}), ("bsr", {"block": (1, 1)}),
                                         ("vectorskip", {"vector": 1})])
def test_wide_pointers_are_priced_as_packed(fmt, option):
    """Over 65535 stored values: 32-bit pointers in the packed format and in its spec."""
    w = np.ones((300, 300), np.float32)
    a = registry.get(fmt).from_dense(w, **option)
    assert a.spec.ranks[0].bits == 32
    for b in (8, 32):
        assert hf.footprint(a.spec, w != 0, value_bits=b).total_bytes == \
            a.storage(value_bits=b).total


@pytest.mark.parametrize("name", registry.names())
def test_every_registered_format_rebuilds_from_its_arrays_by_role(name):
    rng = np.random.default_rng(3)
    W = rng.standard_normal((13, 21)).astype(np.float32)
    W[rng.random(W.shape) < 0.7] = 0
    A = registry.get(name).from_dense(W)
    arrays = A.arrays()
    assert tuple(arrays) == type(A).roles
    assert all(not a.flags.writeable for a in arrays.values())
    B = type(A).from_arrays(arrays, A.shape)
    assert np.array_equal(B.to_dense(), W) and B.options() == A.options()
    with pytest.raises(ValueError, match="needs"):
        type(A).from_arrays({}, A.shape)


@pytest.mark.parametrize("name", registry.names())
def test_sparse_layers_run_every_registered_format(name):
    import torch
    from sparsekit.nn import SparseLinear
    lin = torch.nn.Linear(21, 13)
    with torch.no_grad():
        lin.weight[lin.weight.abs() < 0.1] = 0
        layer = SparseLinear.from_dense(lin, format=name)
        x = torch.randn(4, 21)
        torch.testing.assert_close(layer(x), lin(x), rtol=1e-5, atol=1e-5)
    assert layer.format == name
