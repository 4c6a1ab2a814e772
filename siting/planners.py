"""The planner contract: one shape for every planner (chargers, logistics, heat).

A planner is a package (``siting/chargers/``, ``siting/logistics/``,
``siting/heat/``) that exports one :class:`PlannerSpec` named ``PLANNER``. The spec
holds:

- ``plan``: a :class:`Planner`, the callable the pipeline runs::

      plan(region, demand, scenario, *, decisions=ItemDecisions(), solver=None,
           progress=False) -> PlannerOutput

  It prepares its inputs (from the region and the demand cells), builds its problem,
  solves it, re-verifies the solution with its independent checker, and returns its
  contract layers (DESIGN.md) in the region's metric CRS, the KPI section for
  ``kpis.json`` and the core's :class:`~siting.models.base.Result`. Every planner
  ends through :func:`finish`, so no solution and a failed check are handled the same
  way everywhere: :class:`~siting.errors.SolverError` (exit 3),
  :class:`~siting.errors.InfeasibleError` (exit 2) or
  :class:`~siting.errors.CheckError` (exit 1, a bug).
- ``layers``: a :class:`LayerSpec` per layer it writes, declared beside the code that
  builds them: title, geometry, whether reviewers decide on its items, and the review
  rules that apply to it. :mod:`siting.maps`, :mod:`siting.review` and
  :mod:`siting.pipeline` iterate over these declarations (through
  :mod:`siting.registry`), so a fourth planner touches its own package, one line of
  the registry, and (for now) its scenario section and CLI subcommand.
- ``requires``: the region layers it reads (any one of each group), checked before
  any solving.
- ``targets``: the plan's targets it answers for, as :class:`Target` objects from its
  KPIs and the scenario (``kpis.json`` ``targets``; met or not, with the shortfall).

Each package also exposes its two ways in (STYLE.md): a pure-array problem
(``ChargerProblem.from_costs``, ``LogisticsProblem.from_costs``,
``HeatNetworkProblem.from_arrays``) with a ``solve_*`` function that returns the
planner's solution (``result`` plus its arrays) and never raises when no solution
is found, and the Region path (``plan_*``).

Reviewer decisions reach a planner as :class:`ItemDecisions`: ids of items of its
decidable layer that were rejected (forbidden) or approved (locked). Item ids are
stable across runs with the same inputs, so a decision made on one plan applies to
the next.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import geopandas as gpd

from siting.errors import CheckError, InputError
from siting.models.base import Result, SolverOptions

if TYPE_CHECKING:
    from siting.config import ReviewSettings, Scenario
    from siting.region import Region

__all__ = [
    "NO_DECISIONS",
    "ItemDecisions",
    "LayerSpec",
    "Planner",
    "PlannerOutput",
    "PlannerSpec",
    "ReviewRule",
    "Target",
    "finish",
    "format_target",
    "solver_kpis",
    "solver_options",
    "targets_table",
]

Geometry = Literal["points", "lines", "polygons"]
Severity = Literal["violation", "condition"]


@dataclass(frozen=True)
class ItemDecisions:
    """Reviewer decisions for one planner: item ids to forbid and to lock."""

    rejected: frozenset[str] = frozenset()
    approved: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        both = self.rejected & self.approved
        if both:
            raise InputError(f"items both approved and rejected: {sorted(both)[:10]}; "
                             f"keep one decision per item in the decisions file")


NO_DECISIONS = ItemDecisions()
"""No reviewer decisions (frozen, so one shared default is safe)."""


@dataclass(frozen=True)
class PlannerOutput:
    """Layers (metric CRS), the KPI section and the solver result of one planner."""

    name: str
    layers: Mapping[str, gpd.GeoDataFrame]
    kpis: Mapping[str, Any]
    result: Result | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ReviewRule:
    """One compliance rule: items of ``item_layer`` against constraint layer ``constraint``.

    An item is a finding when it lies within ``buffer_m`` of the constraint
    (intersects it, for ``buffer_m = 0``). ``severity`` ``"condition"`` allows the item
    under a condition (a pipe crossing water by a bridge or a bore), at
    ``cost_cny_per_m`` extra per metre inside the constraint, rather than forbidding it.
    """

    name: str
    item_layer: str
    constraint: str
    buffer_m: float
    severity: Severity
    text: str
    cost_cny_per_m: float = 0.0


@dataclass(frozen=True)
class LayerSpec:
    """One layer a planner writes into ``plan.gpkg``, declared beside its builder.

    Attributes:
        name: the GeoPackage layer name (DESIGN.md keeps the contract names).
        title: what maps, review pages and legends call it.
        geometry: ``points``, ``lines`` or ``polygons``.
        decidable: reviewers approve or reject its items (by the ``id`` column); at
            most one decidable layer per planner, the one its decisions refer to.
        rules: the review rules for its items, from the scenario's ``[review]``
            buffers (:mod:`siting.review` runs them).
        diff: ``python cli.py diff`` compares its items (by ``id``) between plans.
        draw: the map recipe ``draw(layers, context) -> list[MapLayer]`` that
            :func:`siting.maps.plan.plan_layers` calls when the layer is present.
        z: drawing order (lower first, so higher layers sit on top and take clicks).
        id_pattern: a regular expression every item id of a decidable layer matches,
            so a decisions file naming something else is refused before any work.
    """

    name: str
    title: str
    geometry: Geometry
    decidable: bool = False
    rules: Callable[[ReviewSettings], tuple[ReviewRule, ...]] | None = None
    diff: bool = False
    draw: Callable[..., list[Any]] | None = None
    z: int = 50
    id_pattern: str | None = None


@dataclass(frozen=True)
class Target:
    """A target of the plan (or an assumed one) and what the plan achieved.

    ``met`` is ``achieved >= target`` (``comparison=">="``) or ``achieved > target``
    (``">"``); ``achieved=None`` means the model does not represent it, and it is
    reported not met. ``source`` is ``"plan"`` for the carbon-peak plan's own
    numbers, ``"assumption"`` otherwise.
    """

    id: str
    text: str
    target: float
    achieved: float | None
    unit: str
    source: Literal["plan", "assumption"]
    comparison: Literal[">=", ">"] = ">="
    note: str = ""

    @property
    def met(self) -> bool:
        if self.achieved is None or not math.isfinite(self.achieved):
            return False
        # a solver meets a target row within its feasibility tolerance (about 1e-7 of
        # the row's scale): that is met, not a shortfall of 0.4 t in 18.5 Mt
        tol = 1e-6 * max(1.0, abs(self.target))
        if self.comparison == ">":
            return self.achieved > self.target + tol
        return self.achieved >= self.target - tol

    @property
    def shortfall(self) -> float | None:
        """How far the plan falls short: 0 when met; ``None`` when it cannot be said in
        the target's unit (not modelled, or a strict ``>`` target not met)."""
        if self.met:
            return 0.0
        if self.achieved is None or not math.isfinite(self.achieved) or self.comparison == ">":
            return None
        return float(self.target - self.achieved)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "target": self.target,
                "achieved": self.achieved, "unit": self.unit, "met": self.met,
                "shortfall": self.shortfall, "comparison": self.comparison,
                "source": self.source, "note": self.note}


def format_target(target: Mapping[str, Any], *, lang: str = "en") -> str:
    """``achieved / target unit``, then "met" or what is short (or "not modelled");
    ``lang="zh"`` says it in Chinese (:mod:`siting.i18n`)."""
    from siting.i18n import t

    unit = str(target.get("unit", ""))
    share = unit == "share"

    def num(v: Any) -> str:
        if v is None:
            return "–"
        v = float(v)
        if share:
            return f"{v * 100:.1f} %"
        return f"{v:,.0f}" if v.is_integer() or abs(v) >= 1000 else f"{v:,.3g}"

    op = "> " if target.get("comparison") == ">" else ""
    text = f"{num(target.get('achieved'))} / {op}{num(target.get('target'))}"
    text += "" if share else f" {unit}"
    if target.get("met"):
        verdict = t("ui.met", lang)
    elif target.get("achieved") is None:
        verdict = t("cli.not_modelled", lang)
    elif target.get("comparison") == ">":
        verdict = t("cli.needs_more", lang, value=num(target.get("target")))
    else:
        verdict = t("cli.short", lang, value=num(target.get("shortfall")))
    source = f" [{t('ui.assumed', lang)}]" if target.get("source") == "assumption" else ""
    return f"{text}: {verdict}{source}"


def targets_table(targets: Sequence[Mapping[str, Any]], *, lang: str = "en") -> str:
    """The targets table printed after every plan: met or not, and the shortfall
    (headings in ``lang``, :mod:`siting.i18n`)."""
    from siting.i18n import t as text

    if not targets:
        return text("cli.targets_none", lang)
    met = sum(bool(t["met"]) for t in targets)
    width = max(len(t["id"]) for t in targets)
    ok, no = text("cli.target_ok", lang), text("cli.target_no", lang)
    lines = [text("cli.targets", lang, met=met, total=len(targets))]
    lines += [f"  {ok if t['met'] else no} {t['id']:<{width}}  {format_target(t, lang=lang)}"
              for t in targets]
    return "\n".join(lines)


class Planner(Protocol):
    """The callable a :class:`PlannerSpec` runs (see the module docstring)."""

    def __call__(self, region: Region, demand: gpd.GeoDataFrame | None, scenario: Scenario,
                 *, decisions: ItemDecisions = ..., solver: SolverOptions | None = None,
                 progress: bool = False) -> PlannerOutput: ...


@dataclass(frozen=True)
class PlannerSpec:
    """A planner: its name, its callable, the layers it writes and what it needs."""

    name: str
    title: str
    plan: Planner
    layers: tuple[LayerSpec, ...]
    requires: tuple[tuple[str, ...], ...] = ()
    targets: Callable[[Mapping[str, Any], Scenario], tuple[Target, ...]] | None = None
    #: cheap capacity checks run for every chosen planner before any solves:
    #: ``preflight(region, demand, scenario) -> [problem, ...]`` (each names the target
    #: and the shortfall); see :func:`siting.pipeline.preflight`
    preflight: Callable[[Region, gpd.GeoDataFrame, Scenario], list[str]] | None = None
    #: ``needs_inputs(scenario)``: whether this scenario gives the planner anything to
    #: plan, and so needs ``requires`` (heat in a scenario without space heating: no)
    needs_inputs: Callable[[Scenario], bool] | None = None

    def __post_init__(self) -> None:
        decidable = [spec.name for spec in self.layers if spec.decidable]
        if len(decidable) > 1:
            raise ValueError(f"planner {self.name!r} declares {len(decidable)} decidable "
                             f"layers {decidable}; decisions name items of one layer")
        from siting.config import ReviewSettings

        for spec in self.layers:
            for rule in spec.rules(ReviewSettings()) if spec.rules else ():
                if rule.item_layer != spec.name:
                    raise ValueError(f"planner {self.name!r}: review rule {rule.name!r} is "
                                     f"declared on layer {spec.name!r} but checks "
                                     f"{rule.item_layer!r}")

    @property
    def decision_layer(self) -> str | None:
        """The layer whose item ids this planner's reviewer decisions name."""
        return next((spec.name for spec in self.layers if spec.decidable), None)

    def layer(self, name: str) -> LayerSpec:
        for spec in self.layers:
            if spec.name == name:
                return spec
        raise KeyError(f"planner {self.name!r} declares no layer {name!r}")

    def missing_inputs(self, available: Iterable[str],
                       scenario: Scenario | None = None) -> list[str]:
        """The required region layers (``'a' or 'b'`` per group) not in ``available``
        (none when ``scenario`` gives the planner nothing to plan: ``needs_inputs``)."""
        if scenario is not None and self.needs_inputs is not None and \
                not self.needs_inputs(scenario):
            return []
        have = set(available)
        return [" or ".join(repr(k) for k in group) for group in self.requires
                if not have.intersection(group)]


def finish(name: str, result: Result,
           check: Callable[[], Sequence[str]] | None = None) -> Result:
    """The one way every planner ends: raise for no solution or a failed check.

    ``result`` without a solution raises :class:`~siting.errors.SolverError` (time
    limit, exit 3) or :class:`~siting.errors.InfeasibleError` (exit 2), naming the
    planner. Otherwise ``check()`` (the planner's independent checker) runs, and
    any violation raises :class:`~siting.errors.CheckError` (exit 1: the model and the
    checker disagree, which is a bug). Returns ``result``.
    """
    result.raise_for_status(model=name)
    violations = list(check()) if check is not None else []
    if violations:
        raise CheckError(name, violations)
    return result


def solver_options(settings: Any, *, time_limit_s: float | None = None,
                   name: str | None = None, seed: int = 0) -> SolverOptions:
    """Core solver options from the scenario's ``[solver]`` section (and CLI overrides)."""
    return SolverOptions(
        name=(name or settings.name),  # type: ignore[arg-type]
        time_limit_s=time_limit_s if time_limit_s is not None else settings.time_limit_s,
        mip_gap=settings.mip_gap, threads=settings.threads, seed=seed)


def solver_kpis(result: Result) -> dict[str, Any]:
    """The ``status``, ``mip_gap`` and ``solve_seconds`` KPIs every planner reports."""
    gap = result.mip_gap
    return {
        "status": result.status.value,
        "mip_gap": None if gap is None or not math.isfinite(gap) else round(float(gap), 6),
        "solve_seconds": round(result.solve_seconds + result.build_seconds, 3),
        "solver": f"{result.solver} {result.solver_version}",
    }
