"""Waste-heat planner: the pipes that bring industrial heat into the heating networks.

Waste heat is industrial process heat and cooling-water heat; heat taken from CHP
plants (the existing supply) is CHP extraction, with its own fuel cost and CO2, and is
reported apart (:mod:`siting.heat.inputs`, :mod:`siting.heat.outputs`). Pipe losses
run the whole heating season. Trunks between neighbouring zone networks are
candidates, and the scenario may require an interconnection (``[[heat.required_links]]``).

Two ways in (STYLE.md):

- the pure-array problem: :class:`HeatNetworkProblem` ``.from_arrays(...)``
  (fixed-charge network design; formulation in its docstring), solved by
  :func:`solve_heat` into a :class:`HeatSolution`;
- the Region path: :func:`plan_heat` (:mod:`siting.heat.planner`).

Modules: ``graph`` (the pipe graph on the roads and its reduction), ``inputs``
(sources, zones and the instance), ``arrays`` (input validation), ``problem``,
``solve``, ``check`` (the independent checker), ``outputs`` (layers and KPIs),
``layers`` (layer declarations and review rules), ``planner`` (the contract).
"""

from siting.heat.layers import LAYERS
from siting.heat.planner import plan_heat
from siting.heat.problem import HeatNetworkProblem, HeatSolution, PipeCatalogue
from siting.heat.solve import solve_heat
from siting.heat.targets import heat_targets
from siting.planners import PlannerSpec

__all__ = ["PLANNER", "HeatNetworkProblem", "HeatSolution", "PipeCatalogue", "plan_heat",
           "solve_heat"]

PLANNER = PlannerSpec(name="heat", title="Waste-heat network", plan=plan_heat, layers=LAYERS,
                      targets=heat_targets, requires=(("heat_sources",),),
                      needs_inputs=lambda scenario: scenario.heat.heated_share > 0)
