"""The one PDE description: a user's PDE through FD, GP-HM and the PINN; clear errors where a method cannot."""

import numpy as np
import pytest
import torch

import pdeml
from pdeml.config import ConfigError
from pdeml.problems import PDE, xp_of
from pdeml.solution import Solution
from pdeml.solvers.fd import FDError


class VariableCoefficient(PDE):
    """``-(1 + x/2) u_xx - u_yy + x u_y + u^3 = f`` on [0, 1] x [0, 0.5], exact ``u = sin(pi x) cos(2 y)``."""

    domain = [(0.0, 1.0), (0.0, 0.5)]

    def operator(self, u, d, x):
        return -(1 + 0.5 * x[0]) * d["xx"] - d["yy"] + x[0] * d["y"] + u**3

    def exact(self, x, y):
        xp = xp_of(x)
        return xp.sin(np.pi * x) * xp.cos(2 * y)

    def forcing(self, x, y):
        xp = xp_of(x)
        u = self.exact(x, y)
        u_y = -2 * xp.sin(np.pi * x) * xp.sin(2 * y)
        return (1 + 0.5 * x) * np.pi**2 * u + 4 * u + x * u_y + u**3


class NoClosedForm(PDE):
    """``-Lap u + 5 u / (1 + u^2) = 1`` on the unit square, ``u = 0`` on the boundary."""

    domain = [(0.0, 1.0), (0.0, 1.0)]

    def operator(self, u, d, x):
        return -d.laplacian() + 5 * u / (1 + u**2)

    def forcing(self, x, y):
        return 1.0 + 0 * x

    def dirichlet(self, x, y):
        return 0 * x


def test_structure_is_read_off_the_operator():
    p = VariableCoefficient()
    assert p.needs == ((0, 2), (1, 1), (1, 2)) and not p.linear and p.dim == 2 and p.has_exact
    assert pdeml.problems.get("peak2d").linear and pdeml.problems.get("two_peaks").needs == ((0, 1), (0, 2), (1, 1), (1, 2))
    assert not NoClosedForm.has_exact and NoClosedForm().params == {}  # no params to write for a user's PDE


def test_exact_solution_satisfies_the_user_operator_by_autograd():
    p = VariableCoefficient()
    pts = torch.rand(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 0.5])
    r = p.residual(p.exact_on_points, pts.requires_grad_(True))
    assert float(r.abs().max()) < 1e-10


def test_fd_reference_of_a_nonlinear_variable_coefficient_pde_converges_at_second_order():
    p = VariableCoefficient()
    errors = []
    for n in (17, 33, 65):
        u = p.reference(n)
        errors.append(np.abs(u - p.exact(*p.grid(n))).max())
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.9) and np.all(orders < 2.1), (errors, orders)


def test_one_user_pde_through_fd_gp_and_pinn_agrees():
    p = VariableCoefficient()
    fd = pdeml.solve(p, "fd", resolution=33)
    gp = pdeml.solve(p, "gp", points_per_dim=[17, 11], components=10, profile_steps=150, progress=False, device="cpu")
    pinn = pdeml.solve(p, "pinn", points=256, steps=300, width=24, depth=2, lr=3e-3, lbfgs_steps=200,
                       boundary="exact", lifting_steps=200, progress=False, device="cpu", dtype="float64",
                       eval_resolution=33)
    assert fd.against == gp.against == pinn.against == "exact"
    assert fd.relative_l2 < 1e-3 and gp.relative_l2 < 1e-2 and pinn.relative_l2 < 3e-2
    pts = np.array([[0.3, 0.1], [0.5, 0.25], [0.8, 0.4]])
    u = p.exact(pts[:, 0], pts[:, 1])
    for s in (fd, gp, pinn):  # every method's prediction is the same function at points off any grid
        assert np.abs(s.predict(pts) - u).max() < 0.05


def test_a_pde_without_exact_solution_is_measured_against_the_fd_reference(tmp_path):
    p = NoClosedForm()
    fd = pdeml.solve(p, "fd", resolution=33)
    assert fd.against == "FD at 65x65" and 0 < fd.relative_l2 < 1e-3  # its discretisation error
    gp = pdeml.solve(p, "gp", points_per_dim=17, components=4, profile_steps=20, progress=False, device="cpu")
    assert gp.against == "FD at 17x17" and gp.relative_l2 < 5e-2
    path = gp.save(tmp_path / "gp.pt")
    again = Solution.load(path, pde=p)
    pts = np.random.default_rng(0).random((6, 2))
    assert np.array_equal(again.predict(pts), gp.predict(pts)) and again.relative_l2 == gp.relative_l2
    # a wrong solution is caught by the reference: the FD solution of another forcing
    assert np.abs(fd.predict(pts) - gp.predict(pts)).max() < 0.05 * np.abs(fd.native).max()


def test_methods_refuse_what_they_cannot_handle_before_any_work(tmp_path):
    import deepxde as dde

    class Disk(PDE):
        geometry = dde.geometry.Disk([0.0, 0.0], 1.0)

        def forcing(self, x, y):
            return 4.0 + 0 * x

        def dirichlet(self, x, y):
            return 0 * x

    with pytest.raises(ValueError, match="GP-HM solves on a tensor grid over a box; Disk's domain is a Disk"):
        pdeml.solve(Disk(), "gp")
    with pytest.raises(FDError, match="needs a box"):
        pdeml.solve(Disk(), "fd")
    with pytest.raises(ValueError, match="no exact solution.*needs a box"):
        pdeml.solve(Disk(), "pinn")
    with pytest.raises(FDError, match="no d\\^2u/dx_0\\^2 term"):
        pdeml.solve("advection_sin200", "fd", resolution=9)
    with pytest.raises(ConfigError, match="unknown gp option.*known options: points_per_dim"):
        pdeml.solve(NoClosedForm(), "gp", sampler="rad")
    with pytest.raises(ConfigError, match="unknown option.*for a PINN with sampler 'uniform'"):
        pdeml.solve(NoClosedForm(), "pinn", flow_steps=3)
    with pytest.raises(ValueError, match="unknown method 'fem'; known methods: fd, gp, pinn"):
        pdeml.solve(NoClosedForm(), "fem")
    with pytest.raises(ConfigError, match="family of data sets"):
        pdeml.solve("darcy", "fd")
    file = tmp_path / "mine.py"
    file.write_text("from pdeml.problems import PDE\n\nclass Mine(PDE):\n    domain = [(0.0, 1.0)]\n\n"
                    "    def forcing(self, x):\n        return 1.0 + 0 * x\n\n    def dirichlet(self, x):\n        return 0 * x\n")
    with pytest.raises(ConfigError, match="has no PDE class 'Yours'; PDE classes defined there: Mine"):
        pdeml.solve(f"{file}:Yours", "fd")
    with pytest.raises(ConfigError, match="does not exist"):
        pdeml.solve(f"{tmp_path / 'missing.py'}:Mine", "fd")
    s = pdeml.solve(f"{file}:Mine", "fd", resolution=9)  # -u'' = 1, u(0) = u(1) = 0: u = x(1 - x)/2, exact at the nodes
    assert np.allclose(s.native, s.pde.grid(9)[0] * (1 - s.pde.grid(9)[0]) / 2, atol=1e-14)


def test_cli_solves_a_user_file_and_rejects_unknown_keys(tmp_path, capsys):
    from pdeml.cli import main

    file = tmp_path / "reaction.py"
    file.write_text("from pdeml.problems import PDE\n\nclass Reaction(PDE):\n    domain = [(0.0, 1.0)]\n\n"
                    "    def __init__(self, k=1.0):\n        self.k = k\n\n"
                    "    def operator(self, u, d, x):\n        return -d['xx'] + self.k * u**3\n\n"
                    "    def forcing(self, x):\n        return 1.0 + 0 * x\n\n    def dirichlet(self, x):\n        return 0 * x\n")
    out = tmp_path / "out"
    assert main(["solve", f"{file}:Reaction", "--method", "fd", "--points", "65", "--set", "problem.k=4",
                 "--out", str(out)]) == 0
    import json

    result = json.loads((out / "result.json").read_text())
    assert result["against"] == "FD at 129" and result["relative_l2"] < 1e-4
    assert (out / "fd_solution.png").stat().st_size > 1000
    assert main(["solve", f"{file}:Reaction", "--method", "fd", "--set", "fd.resolutoin=9", "--out", str(out)]) == 2
    assert "unknown fd option(s) ['resolutoin']; known options: resolution" in capsys.readouterr().err
