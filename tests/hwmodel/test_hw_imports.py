"""hwmodel stands alone: numpy and pyyaml only, never torch, numba, sparsekit or kernels."""

import subprocess
import sys


def test_hwmodel_imports_no_heavy_or_sibling_packages():
    code = ("import sys, hwmodel; hwmodel.estimate('eyeriss-like', "
            "hwmodel.Layer('fc', 8, 8, 8, 16, 16, 'int')); "
            "bad = [m for m in ('torch', 'numba', 'sparsekit', 'kernels', 'scipy', 'pandas') "
            "if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
