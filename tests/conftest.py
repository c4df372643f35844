import os

import pytest
import torch

os.environ.setdefault("DDE_BACKEND", "pytorch")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def darcy_file(tmp_path_factory):
    """A small Darcy data set from the reference solver (shared by the tests of one session)."""
    from pdeml.data import generate

    path = tmp_path_factory.mktemp("data") / "darcy_r16_n48.h5"
    return generate("darcy", 48, 16, path, seed=0, progress=False)


@pytest.fixture
def one_torch_thread():
    """Small FFTs: threads only add overhead (and badly so on a busy machine)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
