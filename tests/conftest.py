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


@pytest.fixture
def darcy_overfit_losses():
    """``losses(net, steps)``: Adam (lr 5e-3) on four normalized 16x16 Darcy samples, the relative
    L2 loss of every step; a model that can learn drives it down by an order of magnitude."""
    import numpy as np

    from pdeml import problems
    from pdeml.losses import relative_l2

    xs, ys = zip(*(problems.get("darcy").sample(i, 0, 16) for i in range(4)))
    x, y = torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))
    x, y = (x - 7.5) / 4.5, y / y.std()

    def losses(net, steps: int) -> list[float]:
        opt = torch.optim.Adam(net.parameters(), lr=5e-3)
        out = []
        for _ in range(steps):
            opt.zero_grad()
            loss = relative_l2(net(x), y)
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    return losses
