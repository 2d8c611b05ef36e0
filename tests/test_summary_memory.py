"""What ``import sparsekit`` and ``sparsekit summary`` load (issue 8: the summary of resnet50
in ≤ 300 MB). Numba and its kernels cost about 0.3 s and 60 MB of resident memory; a command
that multiplies nothing must not load them, and the kernels must still run when first used.
Each case runs in a fresh interpreter: this test process has loaded everything already."""

from helpers import run_fresh


def test_import_sparsekit_loads_neither_torch_nor_numba():
    got = run_fresh("""
        import json, sys
        import sparsekit
        print(json.dumps({m: m in sys.modules for m in ("torch", "numba",
                                                        "sparsekit.kernels.csr")}))
        """)
    assert got == {"torch": False, "numba": False, "sparsekit.kernels.csr": False}


def test_summary_command_never_loads_numba():
    got = run_fresh("""
        import contextlib, io, json, sys
        from sparsekit import cli
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = cli.main(["summary", "small_cnn"])
        print(json.dumps({"code": code, "numba": "numba" in sys.modules,
                          "table": "conv" in out.getvalue()}))
        """)
    assert got == {"code": 0, "numba": False, "table": True}


def test_first_product_loads_the_kernels_and_is_right():
    """``sparsekit.kernels`` is lazy: the first product reads a kernel from it, which loads
    Numba; the product is right for every format, and the name is kept on the package."""
    got = run_fresh("""
        import json, sys
        import numpy as np
        import sparsekit as sk
        rng = np.random.default_rng(0)
        W = rng.standard_normal((37, 29)).astype(np.float32)
        W[rng.random(W.shape) < 0.7] = 0
        x, X = W[0] * 0 + 1, rng.standard_normal((29, 5)).astype(np.float32)
        before = "numba" in sys.modules
        ok = [bool(np.allclose(A @ x, W @ x, atol=1e-5) and np.allclose(A @ X, W @ X, atol=1e-5))
              for A in (sk.CSR.from_dense(W), sk.BSR.from_dense(W, block=(4, 4)),
                        sk.VectorSkip.from_dense(W, vector=8))]
        import sparsekit.kernels
        kept = "csr_spmv" in vars(sparsekit.kernels)   # a plain attribute from now on
        print(json.dumps({"before": before, "after": "numba" in sys.modules, "ok": ok,
                          "kept": kept,
                          "real": sk.kernels is sys.modules["sparsekit.kernels"],
                          "threads": sk.get_num_threads() >= 1}))
        """)
    assert got == {"before": False, "after": True, "ok": [True, True, True], "kept": True,
                   "real": True, "threads": True}


def test_lazy_names_are_listed_and_unknown_ones_raise():
    import pytest

    import sparsekit
    for name in sparsekit.__all__:
        assert name in dir(sparsekit)
        assert getattr(sparsekit, name) is not None
    with pytest.raises(AttributeError, match="no_such_thing"):
        sparsekit.no_such_thing  # noqa: B018


def test_estimate_never_loads_numba():
    """sk.estimate prices a model without running a kernel: no Numba (0.2 s, 60 MB)."""
    got = run_fresh("""
        import json, sys
        import torch
        import sparsekit as sk
        model = sk.models.load_model("small_cnn").eval()
        sk.estimate(model, sk.models.example_input("small_cnn"), "host-cpu")
        print(json.dumps({"numba": "numba" in sys.modules}))
        """)
    assert got == {"numba": False}
