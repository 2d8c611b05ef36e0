"""Sweeps run on any concurrent.futures executor and return rows in grid order."""

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

import hwmodel
from hwmodel import Layer, sweep

SPARSITY = [0.0, 0.5, 0.9]


def model(sparsity):
    """A two-layer int8 model pruned to ``sparsity`` (module level: picklable)."""
    layers = [Layer("conv", 64, 576, 784, 8, 8, "int"), Layer("fc", 256, 1024, 1, 8, 8, "int")]
    return [layer.with_density(1 - sparsity, "unstructured") for layer in layers]


def grid():
    return {"hardware": ["edge-npu", hwmodel.load("server-accelerator")],
            "workloads": {"csr-ish": model, "dense": model(0.0)},
            "sparsity": SPARSITY}


def check(rows):
    # per hardware: 3 sparsity points for the builder, 1 for the fixed list
    assert [(r["hardware"], r["workload"], r["sparsity"]) for r in rows] == [
        (hw, wl, s) for hw in ("edge-npu", "server-accelerator")
        for wl, ss in (("csr-ish", SPARSITY), ("dense", [None])) for s in ss]
    npu = [r for r in rows if r["hardware"] == "edge-npu" and r["workload"] == "csr-ish"]
    energies = [r["energy_j"] for r in npu]
    assert energies == sorted(energies, reverse=True)          # skip hardware: sparser, cheaper
    assert all(r["inferences_per_sec_per_watt"] > 0 for r in rows)


def test_sweep_with_threads():
    with ThreadPoolExecutor(2) as pool:
        rows = sweep(grid(), executor=pool, progress=False)
    check(rows)
    assert "edge-npu" in str(rows) and rows.to_csv().count("\n") == len(rows) + 1


def test_sweep_with_processes(capsys):
    with ProcessPoolExecutor(2) as pool:
        check(sweep(grid(), executor=pool, progress=True))
    assert "sweep" in capsys.readouterr().err                 # the tqdm bar


def test_sweep_default_executor_and_function_form():
    rows = sweep(grid(), objective="latency", progress=False)   # a process pool of its own
    check(rows)
    with ThreadPoolExecutor(2) as pool:
        out = sweep(estimate_point, [0.0, 0.5], executor=pool, progress=False)
    assert [r["point"] for r in out] == [0.0, 0.5]
    assert out[0]["latency_s"] >= out[1]["latency_s"]


def estimate_point(sparsity):
    return hwmodel.estimate("edge-npu", model(sparsity))


def test_sweep_rejects_bad_grids():
    with pytest.raises(ValueError, match="hardware"):
        sweep({"workloads": {}}, progress=False)
    with pytest.raises(ValueError, match="unknown sweep grid keys"):
        sweep({**grid(), "formats": []}, progress=False)
    with pytest.raises(TypeError, match="points"):
        sweep(estimate_point)


def test_sweep_on_a_local_dask_cluster():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, processes=False) as cluster, \
            distributed.Client(cluster) as client:
        check(sweep(grid(), executor=client.get_executor(), progress=False))
