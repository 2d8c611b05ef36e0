"""Shared fixtures and the hypothesis profile for the test suite.

Helpers and strategies live in ``tests/helpers.py`` (importable as ``helpers``)."""
import os

import pytest
from hypothesis import HealthCheck, settings

import sparsekit as sk
from helpers import SPEC_IDS, SPECS

# deadline=None: the first call of a Numba kernel with a new signature compiles it (or loads
# it from the cache), which takes far longer than any later call.
settings.register_profile(
    "sparsekit", max_examples=60, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", parent=settings.get_profile("sparsekit"),
                          max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sparsekit"))


def pytest_configure(config):
    # torch warns that sparse BSR/CSR support is "beta", and that it does not check sparse
    # invariants, when to_torch() builds a tensor: noise for these tests.
    config.addinivalue_line("filterwarnings",
                            "ignore:Sparse (BSR|CSR) tensor support is in beta state")
    config.addinivalue_line("filterwarnings",
                            "ignore:Sparse invariant checks are implicitly disabled")


@pytest.fixture(params=SPECS, ids=SPEC_IDS)
def spec(request):
    """Every format under test: CSR, BSR with several block shapes, VectorSkip with several V."""
    return request.param


@pytest.fixture
def restore_threads():
    """Put Numba's and torch's thread counts back after a test changes them."""
    import torch
    numba_threads, torch_threads = sk.get_num_threads(), torch.get_num_threads()
    yield
    sk.set_num_threads(numba_threads)
    torch.set_num_threads(torch_threads)
