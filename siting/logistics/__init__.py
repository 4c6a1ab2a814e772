"""Green logistics park planner: site ``p`` multimodal (rail + road) parks.

Two ways in (STYLE.md):

- the pure-array problem: :class:`LogisticsProblem` ``.from_costs(...)`` (formulation
  in its docstring), solved on the core CFLP by :func:`solve_logistics` into a
  :class:`LogisticsSolution`;
- the Region path: :func:`plan_logistics` (:mod:`siting.logistics.planner`).

Modules: ``sites`` (freight sources, stations and candidate screening), ``inputs``
(existing parks and candidates), ``problem``, ``solve``, ``check`` (the independent
checker), ``outputs`` (layers, KPIs, CO₂), ``layers`` (layer declarations and review
rules), ``planner`` (the contract).
"""

from siting.logistics.layers import LAYERS
from siting.logistics.planner import logistics_preflight, plan_logistics
from siting.logistics.problem import LogisticsProblem
from siting.logistics.solve import LogisticsSolution, solve_logistics
from siting.logistics.targets import logistics_targets
from siting.planners import PlannerSpec

__all__ = ["PLANNER", "LogisticsProblem", "LogisticsSolution", "plan_logistics",
           "solve_logistics"]

PLANNER = PlannerSpec(name="logistics", title="Green logistics parks", plan=plan_logistics,
                      layers=LAYERS, targets=logistics_targets,
                      requires=(("rail_stations", "rail_lines"), ("industrial_zones",)),
                      preflight=logistics_preflight)
