"""Pictures of the Navier–Stokes and Burgers reference solvers (small grids, a few seconds on a CPU).

    python examples/plot_navier_stokes.py            # docs/images/navier_stokes.png
    python examples/plot_navier_stokes.py --burgers  # docs/images/burgers.png
    python examples/plot_navier_stokes.py --verify   # print the verification figures of the docs
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from pdeml.problems import sample_rng  # noqa: E402
from pdeml.problems.burgers import Burgers1D  # noqa: E402
from pdeml.problems.navier_stokes import NavierStokes2D  # noqa: E402

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"


def plot_navier_stokes(out: Path, n: int = 64) -> None:
    """FNO setting (nu = 1e-3, FNO forcing) on a 64^2 grid: vorticity at t = 0, 2.5, 5, 10."""
    prob = NavierStokes2D(nu=1e-3, dt=5e-3, t_final=10.0, n_snapshots=4, solver_resolution=n)
    traj = prob.solve(prob.sample_initial_vorticity(sample_rng(0, 0), n)).numpy()  # (n, n, 5)
    times = [0.0, *prob.record_times]
    keep = [0, 1, 2, 4]
    fig, axes = plt.subplots(1, len(keep), figsize=(3.2 * len(keep), 3.2))
    for ax, j in zip(axes, keep):
        lim = np.abs(traj[..., j]).max()
        ax.imshow(traj[..., j].T, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"w(t = {times[j]:g})")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Navier–Stokes vorticity, nu = 1e-3, FNO forcing, {n}x{n} pseudo-spectral")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def plot_burgers(out: Path) -> None:
    """FNO setting (GRF u0, nu = 0.1) and a PDEBench setting (two sine waves, nu = 0.01 / pi)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    settings = [("fno", Burgers1D.recipe("fno", solver_resolution=512, dt=2e-4, n_snapshots=4), 0),
                ("pdebench-0.01", Burgers1D.recipe("pdebench-0.01", solver_resolution=1024, dt=2e-4,
                                                   n_snapshots=4, t_final=1.0), 3)]
    for ax, (name, prob, index) in zip(axes, settings):
        u0 = prob.sample_initial_condition(sample_rng(0, index))
        traj = prob.solve(torch.as_tensor(u0)).numpy()
        x = prob.grid(u0.size)
        ax.plot(x, u0, "k", lw=1.5, label="t = 0")
        for j, t in enumerate(prob.record_times):
            ax.plot(x, traj[:, j], lw=1.2, label=f"t = {t:g}")
        ax.set_title(f"recipe {name!r}: nu = {prob.nu:.3g}")
        ax.set_xlabel("x")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def verify() -> None:
    """Print the figures quoted in docs/navier-stokes.md and docs/burgers.md."""
    import math

    from pdeml.problems.burgers import cole_hopf_solution
    from pdeml.problems.navier_stokes import taylor_green
    from pdeml.problems.random_fields import grf_periodic
    from pdeml.solvers.spectral import burgers_1d, derivative, navier_stokes_2d, spectral_grid_2d

    def grid(n):
        t = torch.arange(n, dtype=torch.float64) / n
        return torch.meshgrid(t, t, indexing="ij")

    x, y = grid(64)
    w = navier_stokes_2d(taylor_green(x, y, 0.0, 1e-3), None, 1e-3, 1e-3, 1.0)[..., -1]
    exact = taylor_green(x, y, 1.0, 1e-3)
    print(f"Taylor-Green 64^2, nu=1e-3, dt=1e-3, t=1: relative L2 error {float((w - exact).norm() / exact.norm()):.2e}")

    n = 32
    x, y = grid(n)
    f = 0.1 * (torch.sin(2 * math.pi * (x + y)) + torch.cos(2 * math.pi * (x + y)))
    w0 = torch.as_tensor(grf_periodic(np.random.default_rng(0), n, 2.5, 7.0, sigma=7.0**1.5))
    w0 = 3.0 * torch.fft.irfft2(torch.fft.rfft2(w0) * spectral_grid_2d(n).dealias, s=(n, n))
    ref = navier_stokes_2d(w0, f, 1e-2, 0.5 / 320, 0.5)[..., -1]
    errs = [float((navier_stokes_2d(w0, f, 1e-2, 0.5 / m, 0.5)[..., -1] - ref).norm() / ref.norm())
            for m in (20, 40, 80)]
    orders = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
    print("NS time convergence 32^2, nu=1e-2, FNO forcing, t=0.5, dt=0.025/0.0125/0.00625 vs dt=0.5/320:",
          " ".join(f"{e:.2e}" for e in errs), "orders", " ".join(f"{o:.2f}" for o in orders))

    w0 = torch.as_tensor(grf_periodic(np.random.default_rng(1), n, 2.5, 7.0, sigma=7.0**1.5))
    w0 = 3.0 * torch.fft.irfft2(torch.fft.rfft2(w0) * spectral_grid_2d(n).dealias, s=(n, n))
    for dt in (4e-3, 2e-3, 1e-3):
        traj = torch.cat([w0[..., None], navier_stokes_2d(w0, f, 5e-3, dt, 0.4, record_every=dt)], dim=-1)
        ens = 0.5 * (traj**2).mean(dim=(0, 1))
        fr = traj.movedim(-1, 0)
        rate = -5e-3 * (derivative(fr, -2) ** 2 + derivative(fr, -1) ** 2).mean(dim=(-1, -2))
        rate = rate + (f[..., None] * traj).mean(dim=(0, 1))
        integral = 0.5 * dt * (rate[1:] + rate[:-1]).sum()
        mismatch = float((ens[-1] - ens[0] - integral).abs() / (dt * rate.abs().sum()))
        print(f"enstrophy balance 32^2, nu=5e-3, t in [0, 0.4], dt={dt:g}: relative mismatch {mismatch:.2e}")

    xb = torch.arange(64, dtype=torch.float64) / 64
    u0, exact = cole_hopf_solution(xb, 0.0, 0.05), cole_hopf_solution(xb, 0.5, 0.05)
    errs = [float((burgers_1d(u0, 0.05, dt, 0.5)[..., -1] - exact).norm() / exact.norm()) for dt in (1e-2, 5e-3, 2.5e-3)]
    orders = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
    print("Burgers vs Cole-Hopf 64 points, nu=0.05, t=0.5, dt=1e-2/5e-3/2.5e-3:",
          " ".join(f"{e:.2e}" for e in errs), "orders", " ".join(f"{o:.2f}" for o in orders))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burgers", action="store_true", help="draw the Burgers picture instead")
    parser.add_argument("--verify", action="store_true", help="print the verification figures instead")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small FFTs: threads only add overhead
    if args.verify:
        verify()
        return
    IMAGES.mkdir(parents=True, exist_ok=True)
    out = IMAGES / ("burgers.png" if args.burgers else "navier_stokes.png")
    (plot_burgers if args.burgers else plot_navier_stokes)(out)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
