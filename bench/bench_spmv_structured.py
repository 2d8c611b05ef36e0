"""Smoke case of bench/spmv_structured.py, run by ``pytest bench --sk-grid smoke``: a small
matrix through SpMV and SpMM, warm and cold, on one and two threads, a few rounds timed."""
import numba
import pytest
import spmv_structured

import sparsekit as sk


@pytest.fixture(autouse=True)
def restore_threads():
    before = sk.get_num_threads()
    yield
    sk.set_num_threads(before)


@pytest.mark.parametrize("extra", [[], ["--cold"], ["--threads", "2", "--cold"],
                                   ["--batch", "4", "--repeat", "2"]])
def test_spmv_structured_times_every_format(extra, capsys):
    if "--threads" in extra and numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one CPU")
    results = spmv_structured.main(["--size", "256", "--budget", "0.05", *extra])
    assert [name for name, _ in results] == ["CSR", "BSR 4x4", "VectorSkip(8)"]
    assert all(t.rounds >= 1 and t.p50 > 0 for _, t in results)
    out = capsys.readouterr().out
    assert ("cold caches" in out) == ("--cold" in extra)
    assert ("CSR ceiling" in out) == ("--batch" not in extra)


@pytest.mark.parametrize("bad", [["--threads", "0"], ["--threads", "4096"], ["--repeat", "0"]])
def test_spmv_structured_refuses_bad_counts(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        spmv_structured.main(bad)
    assert exc.value.code == 2
    assert bad[0] in capsys.readouterr().err
