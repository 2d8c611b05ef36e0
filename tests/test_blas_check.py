"""Numba's BLAS check at its first compile or cache load must not import all of
``scipy.linalg`` (0.13-0.18 s of a cached process's 0.5 s to its first product), and must leave
``scipy.linalg`` importable and BLAS usable afterwards. Each case runs in a fresh interpreter:
this test process has imported everything already."""

from helpers import run_fresh

_PRODUCT = """
    import numpy as np
    import sparsekit as sk
    W = np.eye(8, dtype=np.float32)
    A = sk.CSR.from_dense(W)
    ok = bool(np.array_equal(A @ np.arange(8, dtype=np.float32), np.arange(8)))
"""


def test_first_product_imports_no_scipy_linalg_and_leaves_it_importable():
    got = run_fresh(_PRODUCT + """
    import json, sys
    before = {m: m in sys.modules for m in ("scipy.linalg", "scipy.linalg.cython_blas",
                                            "numba.np.arraymath")}
    import scipy.linalg.cython_blas
    import scipy.linalg
    import numba
    @numba.njit
    def dot(a, b):
        return np.dot(a, b)   # BLAS through scipy's extension, as Numba looks it up
    print(json.dumps({"ok": ok, "before": before,
                      "attribute": scipy.linalg.cython_blas is
                                   sys.modules["scipy.linalg.cython_blas"],
                      "blas": dot(np.eye(3), np.full((3, 3), 2.0)).tolist()[0]}))
    """)
    assert got == {"ok": True, "before": {"scipy.linalg": False, "scipy.linalg.cython_blas": False,
                                          "numba.np.arraymath": True},
                   "attribute": True, "blas": [2.0, 2.0, 2.0]}


def test_scipy_linalg_imported_first_is_left_alone():
    got = run_fresh("""
    import scipy.linalg, sys
    blas = sys.modules["scipy.linalg.cython_blas"] if "scipy.linalg.cython_blas" in sys.modules \\
        else None
    """ + _PRODUCT + """
    import json
    print(json.dumps({"ok": ok, "same": blas is None or
                      sys.modules["scipy.linalg.cython_blas"] is blas}))
    """)
    assert got == {"ok": True, "same": True}


def test_without_the_extension_the_check_imports_as_usual():
    got = run_fresh("""
    from sparsekit.kernels import blas_check
    blas_check._extension_alone = lambda: None
    """ + _PRODUCT + """
    import json, sys
    print(json.dumps({"ok": ok, "linalg": "scipy.linalg" in sys.modules}))
    """)
    assert got == {"ok": True, "linalg": True}
