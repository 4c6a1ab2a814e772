"""Charging-pile planner: where stations go and how many slow and fast piles each gets.

Two ways in (STYLE.md):

- the pure-array problem: :class:`ChargerProblem` ``.from_costs(...)`` (formulation
  in its docstring), solved by :func:`solve_chargers` into a :class:`ChargerSolution`;
- the Region path: :func:`plan_chargers` (:mod:`siting.chargers.planner`), which
  validates the demand layer, makes candidate sites (:mod:`siting.chargers.sites`),
  builds sparse network costs and hands over to the first.

Modules: ``inputs`` (Region -> problem), ``problem`` (data and pre-checks),
``build`` / ``solve`` / ``round`` / ``diagnose`` (the model and its solution),
``queueing`` (Erlang-C), ``check`` (the independent checker), ``outputs`` (layers and
KPIs), ``layers`` (layer declarations and review rules), ``planner`` (the contract).
"""

from siting.chargers.layers import LAYERS
from siting.chargers.planner import charger_preflight, plan_chargers
from siting.chargers.problem import ChargerProblem, ChargerSolution, PileType
from siting.chargers.solve import solve_chargers
from siting.chargers.targets import charger_targets
from siting.planners import PlannerSpec

__all__ = ["PLANNER", "ChargerProblem", "ChargerSolution", "PileType", "plan_chargers",
           "solve_chargers"]

PLANNER = PlannerSpec(name="chargers", title="Charging piles", plan=plan_chargers,
                      layers=LAYERS, targets=charger_targets, requires=(("pois", "land_use"),),
                      preflight=charger_preflight)
