"""PINNs with interchangeable collocation samplers: uniform, RAR, RAD and adversarial adaptive
sampling (AAS), on deepxde geometries, trained by the one Trainer.

``solve_pinn("peak2d", sampler="aas", points=1000, steps=2000)`` returns a :class:`PINNResult`
with the relative L2 error against the exact solution.
"""

from pdeml.pinn.config import PINNConfig
from pdeml.pinn.flow import BoxFlow
from pdeml.pinn.geometry import Domain, box_geometry
from pdeml.pinn.network import MLP, PINNModel
from pdeml.pinn.samplers import (
           SAMPLERS,
           AASSampler,
           CollocationSampler,
           RADSampler,
           RARSampler,
           UniformSampler,
           make_sampler,
)
from pdeml.pinn.solve import (
           DEFAULTS,
           EvaluationSet,
           PINNResult,
           evaluation_set,
           save_result,
           solve_pinn,
)

__all__ = ["AASSampler", "BoxFlow", "CollocationSampler", "DEFAULTS", "Domain", "EvaluationSet", "MLP", "PINNConfig", "PINNModel",
           "PINNResult", "RADSampler", "RARSampler", "SAMPLERS", "UniformSampler", "box_geometry", "evaluation_set",
           "make_sampler", "save_result", "solve_pinn"]
