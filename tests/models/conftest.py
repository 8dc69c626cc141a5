"""Model tests run single-threaded: their tensors are tiny, and on a busy machine two intra-op
threads spend more time waiting for each other than computing (about 4× slower, measured here)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
