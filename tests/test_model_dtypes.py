"""Half-precision models are analysed like float32 ones: only their zero pattern matters to the
structure columns (torch's bfloat16 has no numpy dtype, which once raised torch's own error)."""
import pytest
import torch

import sparsekit as sk


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_analyze_reads_half_precision_weights(dtype):
    model = sk.models.load_model("small_cnn")
    sk.prune.magnitude(model, 0.5)
    sk.prune.remove(model)                     # masks made permanent: a plain state_dict
    reference = sk.analyze(model, sk.models.example_input("small_cnn"))
    half = sk.models.load_model("small_cnn")
    half.load_state_dict(model.state_dict())
    half = half.to(dtype)
    summary = sk.analyze(half, sk.models.example_input("small_cnn").to(dtype))
    for column in ("sparsity", "rows", "channels", "nnz"):
        assert summary.total[column] == reference.total[column]
