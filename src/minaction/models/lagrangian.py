"""`lagrangian` (PhysicsLagrangian): the hidden state moves through depth as a damped mechanical
trajectory, and the model exposes the action terms of that trajectory.

    q_0 = Π(W_in·x + b_in)                                  lifted input, held to the set
    for k = 1..K (K = depth):
        z_k = relu(U_k·q_{k−1} + c_k)                       potential units   (M)
        V_k = ½‖z_k‖²                                       potential of q_{k−1}
        f_k = −∇V_k(q_{k−1}) = −U_kᵀ·z_k                    force
        v_k = β·v_{k−1} + f_k,  v_0 = 0                     velocity (kinetic pathway)
        q̃_k = q_{k−1} + v_k                                 free step
        q_k = Π(q̃_k)                                        constraint pathway
    logits = W_o·q_K + b_o

Π projects onto the ball ‖q‖ ≤ R (R = √N by default): a budget on the state's own energy.
Per sample the model records T = Σ_k ½‖v_k‖² (kinetic), V = Σ_k V_k (potential) and
C = Σ_k ½‖q̃_k − q_k‖² (constraint violation, k = 0..K). `last_action` holds them;
`action_loss(model)` is their batch mean sum, which the trainer adds to the loss with
`RunSpec.action_weight`. Energy sites: the potential units z_k and the projected states q_k.
docs/architectures.md gives the reasons for each choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from minaction.data.registry import DatasetInfo
from minaction.energy.meter import register_site_type
from minaction.energy.ops import register_mac_rule
from minaction.errors import ConfigError
from minaction.models.encoders import FlatEncoder
from minaction.models.registry import register_model

DEFAULT_INERTIA = 0.5  # β: the share of the velocity a step keeps (1 − β is the damping)


@register_site_type
class BallProjection(nn.Module):
    """Π(q) = q·min(1, R/‖q‖): the nearest point of the ball of radius R. An energy site."""

    def __init__(self, radius: float):
        super().__init__()
        self.radius = float(radius)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        norm = q.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # (B, 1)
        return q * torch.clamp(self.radius / norm, max=1.0)  # (B, N)


class TransposedProduct(nn.Module):
    """z @ U: a Linear layer's weight U (M, N) used transposed, (B, M) → (B, N); shares U."""

    def forward(self, z: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return z @ weight


@register_mac_rule(TransposedProduct)
def _transposed_ops(module: TransposedProduct, inputs: tuple, output: object):
    z, weight = inputs  # (..., M), (M, N)
    inner, outer = weight.shape
    dense = float(z.numel() // inner * inner * outer)
    return dense, float(torch.count_nonzero(z) * outer), 0.0


class Potential(nn.Module):
    """V(q) = ½‖relu(U·q + c)‖², convex and ≥ 0, with its exact gradient Uᵀ·relu(U·q + c)."""

    def __init__(self, width: int, units: int):
        super().__init__()
        self.linear = nn.Linear(width, units)
        self.act = nn.ReLU()
        self.transpose = TransposedProduct()

    def forward(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(potential (B,), force −∇V (B, N)) at state q (B, N)."""
        z = self.act(self.linear(q))  # (B, M)
        potential = 0.5 * z.pow(2).sum(dim=-1)  # (B,)
        force = -self.transpose(z, self.linear.weight)  # (B, N)
        return potential, force


@dataclass
class LagrangianAction:
    """Action terms of one forward pass, per sample (B,), differentiable."""

    kinetic: torch.Tensor
    potential: torch.Tensor
    constraint: torch.Tensor

    def total(self) -> torch.Tensor:
        """Batch mean of T + V + C: the scalar the trainer weighs with `action_weight`.

        NOTE: the dynamics follow L = T − V (the force is −∇V), but the cost is T + V: as a loss
        the physical action T − V is unbounded below (a large potential would lower it), while
        T + V ≥ 0 prices both motion and the potential of the states visited.
        """
        return (self.kinetic + self.potential + self.constraint).mean()

    def to_dict(self) -> dict[str, float]:
        """Batch means as floats."""
        return {
            "kinetic": float(self.kinetic.detach().mean()),
            "potential": float(self.potential.detach().mean()),
            "constraint": float(self.constraint.detach().mean()),
        }


class PhysicsLagrangian(nn.Module):
    """Hidden state as a trajectory through depth: see the module docstring for the equations.

    Args:
        width: N, the state's dimension.
        depth: K, the number of steps.
        potential_width: M, units of each step's potential (default N).
        inertia: β in [0, 1); 0 makes each step a pure gradient step on the potential.
        radius: R of the constraint ball (default √N: unit RMS per coordinate).
        shared_potential: one potential for every step (time-invariant physics) instead of one
            a step.

    Attributes:
        last_action: LagrangianAction of the last forward pass.
    """

    def __init__(
        self,
        info: DatasetInfo,
        width: int,
        depth: int,
        potential_width: int | None = None,
        inertia: float = DEFAULT_INERTIA,
        radius: float | None = None,
        shared_potential: bool = False,
    ):
        super().__init__()
        if not 0 <= inertia < 1:
            raise ConfigError(f"inertia must be in [0, 1), got {inertia!r}")
        radius = math.sqrt(width) if radius is None else radius
        if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius > 0):
            raise ConfigError(f"radius must be a positive number, got {radius!r}")
        units = width if potential_width is None else potential_width
        if not isinstance(units, int) or units < 1:
            raise ConfigError(f"potential_width must be a positive integer, got {units!r}")
        self.depth = depth
        self.inertia = float(inertia)
        self.encoder = FlatEncoder(info)
        self.lift = nn.Linear(self.encoder.out_features, width)
        self.constraint = BallProjection(radius)
        count = 1 if shared_potential else depth
        self.potentials = nn.ModuleList(Potential(width, units) for _ in range(count))
        self.head = nn.Linear(width, info.num_classes)
        self.last_action: LagrangianAction | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        free = self.lift(self.encoder(x))  # (B, N)
        q = self.constraint(free)  # (B, N)
        constraint = 0.5 * (free - q).pow(2).sum(dim=-1)  # (B,)
        kinetic = torch.zeros_like(constraint)
        potential = torch.zeros_like(constraint)
        velocity = torch.zeros_like(q)
        for step in range(self.depth):
            step_potential, force = self.potentials[step % len(self.potentials)](q)
            velocity = self.inertia * velocity + force  # (B, N)
            free = q + velocity
            q = self.constraint(free)  # (B, N)
            kinetic = kinetic + 0.5 * velocity.pow(2).sum(dim=-1)
            potential = potential + step_potential
            constraint = constraint + 0.5 * (free - q).pow(2).sum(dim=-1)
        self.last_action = LagrangianAction(kinetic, potential, constraint)
        return self.head(q)  # (B, num_classes)


def action_loss(model: nn.Module) -> torch.Tensor | None:
    """The action of `model`'s last forward pass as a scalar to add to a loss, or None when the
    model exposes no action (any model with a `last_action` that has `total()` does)."""
    action = getattr(model, "last_action", None)
    if action is None or not callable(getattr(action, "total", None)):
        return None
    return action.total()


@register_model(
    "lagrangian",
    "PhysicsLagrangian: state as a trajectory under a learned potential; action T, V, C",
    default_width=128,
    default_depth=2,
)
def build_lagrangian(
    info: DatasetInfo,
    width: int,
    depth: int,
    potential_width: int | None = None,
    inertia: float = DEFAULT_INERTIA,
    radius: float | None = None,
    shared_potential: bool = False,
) -> PhysicsLagrangian:
    return PhysicsLagrangian(
        info,
        width,
        depth,
        potential_width=potential_width,
        inertia=inertia,
        radius=radius,
        shared_potential=shared_potential,
    )
