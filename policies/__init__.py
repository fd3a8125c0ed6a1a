"""robo_meta.policies: torch modules for the learners (never imports mujoco).

``GaussianActorCritic`` (MLP; used by ``dr`` and ``oracle``) and ``RecurrentActorCritic``
(GRU; used by ``rl2``) share one interface: ``initial_state(batch)``, ``step(...)`` for one
batched step and ``sequence(...)`` for a (T, B) unroll, so the PPO core drives both.
``pretrained/`` holds small trained checkpoints with their cards.
"""

from robo_meta.policies.maml import MetaSGDActorCritic
from robo_meta.policies.mlp import GaussianActorCritic, mlp
from robo_meta.policies.normalizer import RunningNormalizer
from robo_meta.policies.recurrent import RecurrentActorCritic
from robo_meta.policies.rma import AdaptationModule, RMATeacher

POLICY_CLASSES = {"mlp": GaussianActorCritic, "gru": RecurrentActorCritic,
                  "maml": MetaSGDActorCritic,
                  "rma_teacher": RMATeacher, "rma_adapter": AdaptationModule}


def build_policy(spec: dict):
    """A policy from its JSON description ``{"class": "mlp" | "gru", "kwargs": {...}}``."""
    if spec.get("class") not in POLICY_CLASSES:
        raise ValueError(f"unknown policy class {spec.get('class')!r}")
    return POLICY_CLASSES[spec["class"]](**spec.get("kwargs", {}))

__all__ = ["POLICY_CLASSES", "GaussianActorCritic", "RecurrentActorCritic", "RunningNormalizer",
           "MetaSGDActorCritic", "AdaptationModule", "RMATeacher", "build_policy", "mlp"]
