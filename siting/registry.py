"""The planners the pipeline runs, in order: a registry of :class:`PlannerSpec` objects.

Adding a planner means writing its package (with a ``PLANNER`` spec, see
:mod:`siting.planners`) and adding it here; maps, review, decisions and the pipeline
read everything else from the spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from siting.chargers import PLANNER as CHARGERS
from siting.errors import InputError
from siting.heat import PLANNER as HEAT
from siting.logistics import PLANNER as LOGISTICS
from siting.planners import LayerSpec, PlannerSpec, ReviewRule

__all__ = ["PLANNERS", "decidable_layers", "diff_layers", "layer_specs", "planner_specs",
           "review_rules", "reviewed_layers"]

PLANNERS: Mapping[str, PlannerSpec] = MappingProxyType(
    {spec.name: spec for spec in (CHARGERS, LOGISTICS, HEAT)})


def planner_specs(names: Iterable[str] | None = None) -> list[PlannerSpec]:
    """The specs of ``names`` (all planners by default); unknown names are an error."""
    if names is None:
        return list(PLANNERS.values())
    if isinstance(names, str):  # planners="chargers" means one planner, not seven letters
        names = [names]
    names = list(dict.fromkeys(names))
    if not names:
        raise InputError(f"no planner chosen; choose from {', '.join(PLANNERS)} "
                         f"(or pass None for all)")
    unknown = [n for n in names if n not in PLANNERS]
    if unknown:
        raise InputError(f"unknown planner(s) {unknown}; choose from {', '.join(PLANNERS)}")
    return [PLANNERS[n] for n in names]


def layer_specs() -> dict[str, LayerSpec]:
    """Every planner layer by name."""
    return {spec.name: spec for p in PLANNERS.values() for spec in p.layers}


def decidable_layers() -> dict[str, str]:
    """Decidable layer name -> the planner whose decisions it carries."""
    return {p.decision_layer: p.name for p in PLANNERS.values() if p.decision_layer}


def reviewed_layers() -> tuple[str, ...]:
    """The layers whose items review checks: every layer with rules, and every
    decidable one (reviewers decide on it, so its rules run even when it has none)."""
    from siting.config import ReviewSettings

    with_rules = [r.item_layer for r in review_rules(ReviewSettings())]
    return tuple(dict.fromkeys([*decidable_layers(), *with_rules]))


def review_rules(settings: object) -> tuple[ReviewRule, ...]:
    """Every planner's review rules with the scenario's ``[review]`` buffers."""
    return tuple(rule for p in PLANNERS.values() for spec in p.layers if spec.rules
                 for rule in spec.rules(settings))  # type: ignore[arg-type]


def diff_layers() -> tuple[str, ...]:
    """The layers ``diff`` compares item by item."""
    return tuple(spec.name for spec in layer_specs().values() if spec.diff)
