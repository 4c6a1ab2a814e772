"""Fixed-charge heat-network design on a candidate link graph, in plain arrays.

This is the pure-array way in to the waste-heat planner (:mod:`siting.heat.inputs` is the
Region/GeoDataFrame way, which builds these arrays from roads, plants and heating
zones). See :class:`HeatNetworkProblem` for the formulation.

Units: heat flows and capacities in MW (peak, design conditions), lengths in m,
money in CNY; per-year coefficients are CNY per MW-peak per year (the caller turns
annual energy into peak MW with its full-load hours).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from siting.errors import InfeasibleError, InputError
from siting.heat.arrays import bounds, check_index, frozen, mask, vector
from siting.models.base import Assignment, Result
from siting.models.builder import ExtraConstraints, LinearModel, ModelBuilder, VarBlock
from siting.models.finance import annuity_factor

logger = logging.getLogger(__name__)

__all__ = ["ExtraConstraints", "HeatNetworkProblem", "HeatSolution", "PipeCatalogue",
           "annuity_factor"]


#: flows below this (MW) are read as zero in a solution
_FLOW_EPS = 1e-6


@dataclass(frozen=True)
class PipeCatalogue:
    """Pipe diameters on offer: DN, capacity, installed cost and heat loss per metre.

    ``loss_mw_per_m`` is the heat lost per metre of route while the pipe is in
    service (W/m ÷ 10⁶); it depends on the diameter, not on the flow.
    """

    dn: np.ndarray
    max_mw: np.ndarray
    cost_cny_per_m: np.ndarray
    loss_mw_per_m: np.ndarray

    def __post_init__(self) -> None:
        arrays = {"dn": (self.dn, np.int64), "max_mw": (self.max_mw, np.float64),
                  "cost_cny_per_m": (self.cost_cny_per_m, np.float64),
                  "loss_mw_per_m": (self.loss_mw_per_m, np.float64)}
        for name, (value, dtype) in arrays.items():
            object.__setattr__(self, name, frozen(np.atleast_1d(value), dtype))
        problems = []
        n = self.dn.size
        if n == 0:
            problems.append("the catalogue needs at least one diameter")
        for name in ("max_mw", "cost_cny_per_m", "loss_mw_per_m"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                problems.append(f"{name} has {arr.size} values for {n} diameters")
            elif not np.all(np.isfinite(arr)):
                problems.append(f"{name} must be finite")
        if not problems:
            if (self.max_mw <= 0).any():
                problems.append("max_mw must be > 0 for every diameter")
            if (self.cost_cny_per_m < 0).any() or (self.loss_mw_per_m < 0).any():
                problems.append("cost_cny_per_m and loss_mw_per_m must be >= 0")
            if n > 1 and not (np.all(np.diff(self.dn) > 0) and np.all(np.diff(self.max_mw) > 0)):
                problems.append(f"DN and max_mw must both increase (DN {self.dn.tolist()}, "
                                f"max_mw {self.max_mw.tolist()})")
        if problems:
            raise InputError.collect(problems, context="pipe catalogue")

    @property
    def size(self) -> int:
        return int(self.dn.size)

    @classmethod
    def from_settings(cls, pipes: Any) -> PipeCatalogue:
        """From the scenario's ``[[heat.pipes]]`` list (``dn``, ``max_mw``,
        ``cost_cny_per_m``, ``loss_w_per_m``)."""
        return cls(dn=np.array([p.dn for p in pipes]), max_mw=np.array([p.max_mw for p in pipes]),
                   cost_cny_per_m=np.array([p.cost_cny_per_m for p in pipes], dtype=float),
                   loss_mw_per_m=np.array([p.loss_w_per_m / 1e6 for p in pipes]))


@dataclass(frozen=True)
class HeatSolution:
    """A heat network read back in physical terms, plus the solver's :class:`Result`.

    Per link ``e``: ``dn_index[e]`` is the catalogue position of the chosen diameter
    (``-1``: not built); heat enters at ``from_node[e]`` with ``inflow_mw[e]`` and
    leaves at the other end with ``outflow_mw[e] = inflow_mw[e] - loss_mw[e]``. Per
    source: ``supply_mw``; per gate (node, sink) pair: ``gate_mw``; per sink:
    ``delivered_mw`` (waste heat), ``unmet_mw`` and ``chp_mw`` (existing supply
    used). ``attribution`` gives, per (sink, source) pair, the MW of waste heat of
    that source delivered to that sink (proportional flow tracing).
    ``costs`` splits the objective (CNY per year). Arrays are read-only.
    """

    result: Result
    dn_index: np.ndarray
    from_node: np.ndarray
    inflow_mw: np.ndarray
    outflow_mw: np.ndarray
    loss_mw: np.ndarray
    supply_mw: np.ndarray
    gate_mw: np.ndarray
    delivered_mw: np.ndarray
    unmet_mw: np.ndarray
    chp_mw: np.ndarray
    attribution: Assignment
    costs: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("dn_index", "from_node"):
            object.__setattr__(self, name, frozen(getattr(self, name), np.int64))
        for name in ("inflow_mw", "outflow_mw", "loss_mw", "supply_mw", "gate_mw",
                     "delivered_mw", "unmet_mw", "chp_mw"):
            object.__setattr__(self, name, frozen(getattr(self, name), np.float64))
        object.__setattr__(self, "costs", dict(self.costs))

    @property
    def built(self) -> np.ndarray:
        """Indices of the links that are built."""
        return np.flatnonzero(self.dn_index >= 0)


@dataclass(frozen=True)
class HeatNetworkProblem:
    r"""Route waste heat from sources to heating zones over candidate pipe links.

    **Data.** An undirected multigraph of candidate links ``e = {u_e, v_e}`` of
    length ``L_e`` (m) with a one-off surcharge ``X_e`` (CNY, e.g. an ecological
    red-line crossing); a catalogue of diameters ``d`` with capacity ``K_d`` (MW),
    cost ``c_d`` (CNY/m) and heat loss ``l_d`` (MW/m); sources ``i`` at node ``n_i``
    able to deliver ``S_i`` MW at supply temperature at an operating cost ``o_i``
    (CNY per MW-year: heat-pump electricity for low-grade heat); sinks ``k`` (heating
    zones) with peak demand ``D_k``, existing CHP capacity ``C_k`` and *gates*
    ``G_k``, the nodes where a pipe may hand heat to the zone's network. ``a`` is the
    capital recovery factor, ``v_k`` the value of one MW-year of displaced CHP heat,
    ``p_k`` the penalty of one MW-year of unmet demand, ``q_k`` the pumping cost of
    one MW-year delivered.

    **Variables.** ``y_ed in {0,1}``: link ``e`` built with diameter ``d``;
    ``f_e^+, f_e^- >= 0``: flow along ``e`` from ``u_e`` to ``v_e`` and back;
    ``s_i in [0, S_i]``: heat from source ``i``; ``g_nk >= 0``: heat handed over at
    gate ``n`` of sink ``k``; ``w_k in [0, D_k]``: waste heat delivered to ``k``;
    ``u_k in [0, (D_k - C_k)^+]``: unmet demand.

    **Losses, linearised.** A built pipe loses the fixed heat ``l_d L_e`` (MW) along
    its length whatever it carries (heat loss of buried pre-insulated pipe depends on
    temperatures and diameter, not on flow). The loss is charged half at each end
    node: with ``f`` the flow variable, heat ``f + l_d L_e / 2`` leaves the upstream
    node and ``f - l_d L_e / 2`` arrives downstream, which is exactly inflow minus
    loss. Capacity applies to the inflow: ``f + l_d L_e / 2 <= K_d``.

    **Model.**

    .. code-block:: text

        min  a sum_ed (c_d L_e + X_e) y_ed  +  sum_i o_i s_i  +  sum_k q_k w_k
             - sum_k v_k (w_k + u_k - h_k)  -  sum_k p_k (h_k - u_k)
        s.t. sum_d y_ed <= 1                        (= 1 for locked links)   for all e
             f_e^+ + f_e^- <= sum_d min(K_d - l_d L_e / 2, U_e) y_ed             for all e
             sum_{e: v_e = n} (f_e^+ - f_e^-) - sum_{e: u_e = n} (f_e^+ - f_e^-)
               - sum_{e ∋ n} sum_d (l_d L_e / 2) y_ed + sum_{i: n_i = n} s_i
               - sum_k g_nk = 0                                               for all n
             sum_{n in G_k} g_nk = w_k                                        for all k
             h_k <= w_k + u_k <= D_k,   h_k = (D_k - C_k)^+                   for all k

    The objective is the net annual cost against today (no waste heat; the
    existing CHP covers what it can and ``h_k`` is unmet): pipe capex annuity plus
    heat-pump electricity plus pumping, minus the value of the CHP heat displaced
    (``w_k + u_k - h_k``: heat the CHP no longer has to make), minus the penalty
    avoided on formerly unmet demand. Negative is a net benefit; building nothing
    costs 0. The relative MIP gap is measured on this net figure.

    ``U_e`` is the smaller of the link's own bound ``link_max_mw`` and all the
    sources' heat. Diameters larger than the first one holding ``U_e`` are never
    offered (they cost and lose more and carry nothing more), nor are diameters
    whose loss over the link exceeds their capacity. Costs reach the solver in
    thousands of CNY (better scaled); results are in CNY.

    **Routes (optional).** With ``link_cover`` (links x sources) the heat of source
    ``i`` may travel only on the links ``i`` covers. The model above relaxes that
    (it only bounds each link's flow by ``U_e``); the networks reported keep to it,
    their flows re-optimised in the extended model of :func:`_add_commodities`. How
    the model is solved (shortest routes first, the strong bound, cutoffs,
    polishing) is in :mod:`siting.heat.solve`. A built pipe always carries at least
    its own loss, except a locked one that nothing needs, which may be kept warm
    from both ends.

    **Example.** A 1 km line from a 10 MW source to a 6 MW zone, two diameters:

    >>> import numpy as np
    >>> from siting.heat.problem import HeatNetworkProblem, PipeCatalogue
    >>> cat = PipeCatalogue(dn=[100, 200], max_mw=[5.0, 20.0], cost_cny_per_m=[100., 150.],
    ...                     loss_mw_per_m=[0.0, 0.0])
    >>> pb = HeatNetworkProblem.from_arrays(
    ...     n_nodes=2, link_u=[0], link_v=[1], link_length_m=[1000.0], catalogue=cat,
    ...     annuity=0.1, source_node=[0], source_mw=[10.0], gate_node=[1], gate_sink=[0],
    ...     sink_demand_mw=[6.0], sink_value_cny_per_mw_yr=100_000.0)
    >>> from siting.heat.solve import solve_heat
    >>> sol = solve_heat(pb, "highs")
    >>> sol.result.status.value, int(pb.catalogue.dn[sol.dn_index[0]]), float(sol.delivered_mw[0])
    ('optimal', 200, 6.0)
    """

    n_nodes: int
    link_u: np.ndarray
    link_v: np.ndarray
    link_length_m: np.ndarray
    link_extra_cny: np.ndarray
    link_locked: np.ndarray
    link_forbidden: np.ndarray
    link_max_mw: np.ndarray
    link_first_max_mw: np.ndarray
    link_tier: np.ndarray
    link_cover: np.ndarray | None
    catalogue: PipeCatalogue
    annuity: float
    source_node: np.ndarray
    source_mw: np.ndarray
    source_cost_cny_per_mw_yr: np.ndarray
    gate_node: np.ndarray
    gate_sink: np.ndarray
    sink_demand_mw: np.ndarray
    sink_chp_mw: np.ndarray
    sink_value_cny_per_mw_yr: np.ndarray
    sink_unmet_cny_per_mw_yr: np.ndarray
    sink_delivery_cost_cny_per_mw_yr: np.ndarray
    name: str = "heat network"

    #: the solver sees costs in thousands of CNY (better scaled); results are in CNY
    cost_scale: ClassVar[float] = 1e-3

    # ------------------------------------------------------------------ input
    @classmethod
    def from_arrays(
        cls, *, n_nodes: int, link_u: ArrayLike, link_v: ArrayLike,
        link_length_m: ArrayLike, catalogue: PipeCatalogue, annuity: float,
        source_node: ArrayLike, source_mw: ArrayLike, gate_node: ArrayLike,
        gate_sink: ArrayLike, sink_demand_mw: ArrayLike,
        sink_value_cny_per_mw_yr: ArrayLike,
        link_extra_cny: ArrayLike | None = None, locked: ArrayLike | None = None,
        forbidden: ArrayLike | None = None, link_max_mw: ArrayLike | None = None,
        link_tier: ArrayLike | None = None, link_first_max_mw: ArrayLike | None = None,
        link_cover: ArrayLike | None = None,
        source_cost_cny_per_mw_yr: ArrayLike | None = None,
        sink_chp_mw: ArrayLike | None = None,
        sink_unmet_cny_per_mw_yr: ArrayLike | None = None,
        sink_delivery_cost_cny_per_mw_yr: ArrayLike | None = None,
        name: str = "heat network",
    ) -> HeatNetworkProblem:
        """Validate the arrays (every problem in one :class:`InputError`) and freeze them.

        Links are given by their end nodes ``link_u``/``link_v`` (``0..n_nodes-1``);
        ``locked``/``forbidden`` take link indices or boolean masks. ``link_max_mw``
        bounds a link's flow (default: none beyond all sources' heat); ``link_tier``
        (default 0) marks links only on alternative routes (1), which the solver
        brings in after a first network on tier 0 solved with the tighter bounds
        ``link_first_max_mw`` (default ``link_max_mw``; see :mod:`siting.heat.solve`).
        ``link_cover`` (links x sources, boolean) says which links each source's heat
        may use; with it, HiGHS proves gaps with the strong bound of
        :mod:`siting.heat.solve`, and reported networks keep to it. Gates are
        ``(gate_node[g], gate_sink[g])`` pairs. Scalars broadcast over sources or
        sinks. ``sink_chp_mw`` defaults to 0 (no existing supply: all demand is
        either waste heat or unmet); ``sink_unmet_cny_per_mw_yr`` to the value.
        """
        problems: list[str] = []
        if isinstance(n_nodes, bool) or not isinstance(n_nodes, int | np.integer) or \
                n_nodes < 0:
            raise InputError(f"{name}: n_nodes={n_nodes!r} must be an integer >= 0")
        u = np.asarray(link_u).ravel()
        v = np.asarray(link_v).ravel()
        n_links = u.size
        length = vector(link_length_m, n_links, "link_length_m", problems, low=0.0)
        extra = vector(0.0 if link_extra_cny is None else link_extra_cny, n_links,
                        "link_extra_cny", problems, low=0.0)
        bound = bounds(link_max_mw, n_links, "link_max_mw", problems)
        first = bound if link_first_max_mw is None else \
            np.minimum(bounds(link_first_max_mw, n_links, "link_first_max_mw", problems), bound)
        if v.size != n_links:
            problems.append(f"link_v has {v.size} values for {n_links} links (link_u)")
        for arr, what in ((u, "link_u"), (v, "link_v")):
            check_index(arr, n_nodes, what, problems)
        src = np.asarray(source_node).ravel()
        n_src = src.size
        check_index(src, n_nodes, "source_node", problems)
        s_mw = vector(source_mw, n_src, "source_mw", problems, low=0.0)
        s_cost = vector(0.0 if source_cost_cny_per_mw_yr is None else
                         source_cost_cny_per_mw_yr, n_src, "source_cost_cny_per_mw_yr",
                         problems, low=None)
        demand = np.asarray(sink_demand_mw, dtype=np.float64).ravel()
        n_sink = demand.size
        demand = vector(demand, n_sink, "sink_demand_mw", problems, low=0.0)
        chp = vector(0.0 if sink_chp_mw is None else sink_chp_mw, n_sink, "sink_chp_mw",
                      problems, low=0.0)
        value = vector(sink_value_cny_per_mw_yr, n_sink, "sink_value_cny_per_mw_yr",
                        problems, low=None)
        unmet = vector(value if sink_unmet_cny_per_mw_yr is None else
                        sink_unmet_cny_per_mw_yr, n_sink, "sink_unmet_cny_per_mw_yr",
                        problems, low=None)
        deliv = vector(0.0 if sink_delivery_cost_cny_per_mw_yr is None else
                        sink_delivery_cost_cny_per_mw_yr, n_sink,
                        "sink_delivery_cost_cny_per_mw_yr", problems, low=None)
        g_node = np.asarray(gate_node).ravel()
        g_sink = np.asarray(gate_sink).ravel()
        if g_node.size != g_sink.size:
            problems.append(f"gate_node ({g_node.size}) and gate_sink ({g_sink.size}) "
                            f"differ in length")
        check_index(g_node, n_nodes, "gate_node", problems)
        check_index(g_sink, n_sink, "gate_sink", problems)
        if not (isinstance(annuity, int | float) and math.isfinite(annuity) and annuity >= 0):
            problems.append(f"annuity={annuity!r} must be a finite number >= 0")
        tier = np.zeros(n_links, np.int64) if link_tier is None else \
            np.asarray(link_tier).ravel()
        if tier.size != n_links or (tier.size and not np.issubdtype(tier.dtype, np.integer)) \
                or (tier < 0).any():
            problems.append(f"link_tier must hold {n_links} integers >= 0")
        cover = None if link_cover is None else np.asarray(link_cover)
        if cover is not None and (cover.dtype != bool or cover.shape != (n_links, n_src)):
            problems.append(f"link_cover must be a boolean array of shape ({n_links}, "
                            f"{n_src}) (links x sources), got {cover.dtype} {cover.shape}")
        lock = mask(locked, n_links, "locked", problems)
        forb = mask(forbidden, n_links, "forbidden", problems)
        if problems:
            raise InputError.collect(problems, context=name)
        both = np.flatnonzero(lock & forb)
        if both.size:
            raise InputError(f"{name}: links {both[:10].tolist()} are both locked and "
                             f"forbidden; keep one decision per link")
        return cls(
            n_nodes=int(n_nodes), link_u=frozen(u, np.int64), link_v=frozen(v, np.int64),
            link_length_m=frozen(length, np.float64), link_extra_cny=frozen(extra, np.float64),
            link_locked=frozen(lock, bool), link_forbidden=frozen(forb, bool),
            link_max_mw=frozen(bound, np.float64),
            link_first_max_mw=frozen(first, np.float64), link_tier=frozen(tier, np.int64),
            link_cover=None if cover is None else frozen(cover, bool),
            catalogue=catalogue,
            annuity=float(annuity), source_node=frozen(src, np.int64),
            source_mw=frozen(s_mw, np.float64),
            source_cost_cny_per_mw_yr=frozen(s_cost, np.float64),
            gate_node=frozen(g_node, np.int64), gate_sink=frozen(g_sink, np.int64),
            sink_demand_mw=frozen(demand, np.float64), sink_chp_mw=frozen(chp, np.float64),
            sink_value_cny_per_mw_yr=frozen(value, np.float64),
            sink_unmet_cny_per_mw_yr=frozen(unmet, np.float64),
            sink_delivery_cost_cny_per_mw_yr=frozen(deliv, np.float64), name=name)

    @property
    def n_links(self) -> int:
        return int(self.link_u.size)

    @property
    def n_sources(self) -> int:
        return int(self.source_node.size)

    @property
    def n_sinks(self) -> int:
        return int(self.sink_demand_mw.size)

    @property
    def sink_gap_mw(self) -> np.ndarray:
        """Demand the existing CHP supply cannot cover, ``(D_k - C_k)^+``."""
        return np.maximum(self.sink_demand_mw - self.sink_chp_mw, 0.0)

    def link_loss_mw(self) -> np.ndarray:
        """``(n_links, n_dn)`` heat loss of each link built with each diameter."""
        return self.link_length_m[:, None] * self.catalogue.loss_mw_per_m[None, :]

    def options(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The (link, diameter) pairs offered to the model and their usable capacity.

        A link's flow bound ``U_e`` is the smaller of ``link_max_mw`` and all the
        sources' heat ``U``. A pair is offered unless the link is forbidden, the
        diameter's loss over the link eats its capacity, or a smaller diameter already
        holds ``U_e`` (a larger one costs and loses more and carries nothing more).
        Capacity is ``min(K_d - l_d L_e / 2, U_e)``. Returns ``(link, dn_index, cap)``.
        """
        cat = self.catalogue
        bound = np.minimum(self.link_max_mw, float(self.source_mw.sum()))
        usable = cat.max_mw[None, :] - self.link_loss_mw() / 2.0
        # first diameter whose usable capacity holds the bound (the last if none does)
        holds = usable >= bound[:, None]
        upto = np.where(holds.any(axis=1), holds.argmax(axis=1), cat.size - 1)
        ok = (usable > 1e-9) & (np.arange(cat.size)[None, :] <= upto[:, None])
        ok &= ~self.link_forbidden[:, None]
        link, dn = np.nonzero(ok)
        cap = np.minimum(usable[link, dn], bound[link])
        return link.astype(np.int64), dn.astype(np.int64), cap

    # ----------------------------------------------------------------- checks
    def check(self) -> None:
        """Pre-solve feasibility checks; raise :class:`InfeasibleError` with numbers."""
        locked = np.flatnonzero(self.link_locked)
        if not locked.size:
            return
        link, _, _ = self.options()
        has_dn = np.zeros(self.n_links, bool)
        has_dn[link] = True
        no_dn = locked[~has_dn[locked]]
        if no_dn.size:
            e = int(no_dn[0])
            raise InfeasibleError(
                f"{self.name}: locked link {e} ({self.link_length_m[e]:,.0f} m) cannot be "
                f"built with any diameter: its heat loss exceeds every capacity; unlock it "
                f"or shorten it", constraint="locked pipes", shortfall=float(no_dn.size))
        open_links = ~self.link_forbidden
        reach = _reachable(self.n_nodes, self.link_u[open_links], self.link_v[open_links],
                           self.source_node[self.source_mw > 0])
        cut = locked[~reach[self.link_u[locked]]]
        if cut.size:
            raise InfeasibleError(
                f"{self.name}: {cut.size} locked link(s) (first: {cut[:5].tolist()}) are not "
                f"connected to any heat source through allowed links; a locked pipe must be "
                f"fed: unlock it or allow the links that reach it",
                constraint="locked pipes", shortfall=float(cut.size))
        min_loss = self.link_loss_mw().min(axis=1)[locked].sum()
        total = float(self.source_mw.sum())
        if min_loss > total + 1e-9:
            raise InfeasibleError(
                f"{self.name}: the locked pipes lose at least {min_loss:.2f} MW but the "
                f"sources hold only {total:.2f} MW; unlock {min_loss - total:.2f} MW worth "
                f"of pipes", constraint="source capacity", shortfall=float(min_loss - total))

    # ------------------------------------------------------------------ model
    def build_model(self, extra_constraints: ExtraConstraints | None = None, *,
                    commodities: bool = False) -> LinearModel:
        """The MILP of the class docstring as a :class:`LinearModel` (costs in kCNY).

        ``commodities`` adds the per-source flows of :func:`_add_commodities` (needs
        ``link_cover``) and gives every column finite bounds (flows at most their
        link's ``U_e``, gates at most their sink's demand), which the safe LP bound of
        :func:`siting.models.highs.safe_lp_bound` needs.
        """
        b = ModelBuilder(self.name)
        link, dn, cap = self.options()
        cat = self.catalogue
        capex = (cat.cost_cny_per_m[dn] * self.link_length_m[link] + self.link_extra_cny[link])
        k = self.cost_scale
        y = b.add_vars("build", link.size, ub=1.0, integer=True, cost=k * self.annuity * capex)
        # implied bounds made explicit only where the safe LP bound needs them (they
        # slow HiGHS's MIP down on the plain model)
        u_e = np.zeros(self.n_links)
        np.maximum.at(u_e, link, cap)
        if not commodities:
            u_e[:] = np.inf
        f_fw = b.add_vars("flow_fw", self.n_links, ub=u_e)
        f_bw = b.add_vars("flow_bw", self.n_links, ub=u_e)
        s = b.add_vars("supply", self.n_sources, ub=self.source_mw,
                       cost=k * self.source_cost_cny_per_mw_yr)
        g = b.add_vars("gate", self.gate_node.size,
                       ub=np.minimum(self.sink_demand_mw[self.gate_sink],
                                     float(self.source_mw.sum())) if commodities else np.inf)
        gap = self.sink_gap_mw
        value, penalty = self.sink_value_cny_per_mw_yr, self.sink_unmet_cny_per_mw_yr
        w = b.add_vars("deliver", self.n_sinks, ub=self.sink_demand_mw,
                       cost=k * (self.sink_delivery_cost_cny_per_mw_yr - value))
        u = b.add_vars("unmet", self.n_sinks, ub=gap, cost=k * (penalty - value))
        b.offset = k * float(np.dot(value - penalty, gap))
        _add_one_diameter(b, self, link, y)
        _add_capacity(b, link, cap, y, f_fw, f_bw)
        _add_balance(b, self, link, dn, y, f_fw, f_bw, s, g)
        _add_sinks(b, self, g, w, u)
        if commodities:
            if self.link_cover is None:
                raise InputError(f"{self.name}: commodities need link_cover")
            _add_commodities(b, self, link, cap, y, s, g)
        if extra_constraints is not None:
            extra_constraints(b, b.vars)
        return b.build()

    def first_stage(self) -> HeatNetworkProblem:
        """The problem on tier-0 links only, with their shortest-route flow bounds.

        Every network of it is a network of ``self`` (fewer links, tighter bounds)."""
        return dataclasses.replace(
            self, link_forbidden=self.link_forbidden | ((self.link_tier > 0) & ~self.link_locked),
            link_max_mw=self.link_first_max_mw, name=f"{self.name} (shortest routes)")

    def cost_breakdown(self, dn_index: np.ndarray, supply_mw: np.ndarray,
                       delivered_mw: np.ndarray, unmet_mw: np.ndarray) -> dict[str, float]:
        """The objective's terms (CNY per year) for a network given in physical terms."""
        built = dn_index >= 0
        capex = float(np.sum(self.catalogue.cost_cny_per_m[dn_index[built]]
                             * self.link_length_m[built] + self.link_extra_cny[built]))
        value = self.sink_value_cny_per_mw_yr
        gap = self.sink_gap_mw
        terms = {
            "capex_cny": capex,
            "capex_annual_cny": self.annuity * capex,
            "source_cost_cny": float(np.dot(self.source_cost_cny_per_mw_yr, supply_mw)),
            "delivery_cost_cny": float(np.dot(self.sink_delivery_cost_cny_per_mw_yr,
                                              delivered_mw)),
            "displaced_value_cny": float(np.dot(value, delivered_mw + unmet_mw - gap)),
            "unmet_avoided_cny": float(np.dot(self.sink_unmet_cny_per_mw_yr, gap - unmet_mw)),
            "unmet_cost_cny": float(np.dot(self.sink_unmet_cny_per_mw_yr, unmet_mw)),
        }
        terms["objective_cny"] = (terms["capex_annual_cny"] + terms["source_cost_cny"]
                                  + terms["delivery_cost_cny"] - terms["displaced_value_cny"]
                                  - terms["unmet_avoided_cny"])
        return terms


# --------------------------------------------------------------------- constraints


def _add_one_diameter(b: ModelBuilder, pb: HeatNetworkProblem, link: np.ndarray,
                      y: VarBlock) -> None:
    """``sum_d y_ed <= 1``, and ``= 1`` for locked links."""
    lower = np.where(pb.link_locked, 1.0, 0.0)
    b.add_rows("one_diameter", rows=link, cols=y.index(), vals=np.ones(link.size),
               lower=lower, upper=1.0, n_rows=pb.n_links)


def _add_capacity(b: ModelBuilder, link: np.ndarray, cap: np.ndarray, y: VarBlock,
                  f_fw: VarBlock, f_bw: VarBlock) -> None:
    """``f_e^+ + f_e^- - sum_d cap_ed y_ed <= 0``."""
    n = f_fw.size
    e = np.arange(n)
    b.add_rows("capacity", rows=np.r_[e, e, link], cols=np.r_[f_fw.index(), f_bw.index(),
                                                              y.index()],
               vals=np.r_[np.ones(2 * n), -cap], lower=-np.inf, upper=0.0, n_rows=n)


def _add_balance(b: ModelBuilder, pb: HeatNetworkProblem, link: np.ndarray, dn: np.ndarray,
                 y: VarBlock, f_fw: VarBlock, f_bw: VarBlock, s: VarBlock,
                 g: VarBlock) -> None:
    """Heat balance with half of each built pipe's loss charged at each end."""
    n = pb.n_links
    u, v = pb.link_u, pb.link_v
    half = pb.link_length_m[link] * pb.catalogue.loss_mw_per_m[dn] / 2.0
    ones = np.ones(n)
    rows = np.r_[v, u, v, u, pb.link_u[link], pb.link_v[link], pb.source_node, pb.gate_node]
    cols = np.r_[f_fw.index(), f_fw.index(), f_bw.index(), f_bw.index(), y.index(),
                 y.index(), s.index(), g.index()]
    vals = np.r_[ones, -ones, -ones, ones, -half, -half, np.ones(s.size), -np.ones(g.size)]
    b.add_rows("balance", rows=rows, cols=cols, vals=vals, lower=0.0, upper=0.0,
               n_rows=pb.n_nodes)


def _add_sinks(b: ModelBuilder, pb: HeatNetworkProblem, g: VarBlock, w: VarBlock,
               u: VarBlock) -> None:
    """Gates feed their sink; ``gap_k <= w_k + u_k <= D_k``."""
    k = np.arange(pb.n_sinks)
    b.add_rows("sink_inflow", rows=np.r_[pb.gate_sink, k], cols=np.r_[g.index(), w.index()],
               vals=np.r_[np.ones(g.size), -np.ones(k.size)], lower=0.0, upper=0.0,
               n_rows=pb.n_sinks)
    b.add_rows("sink_cover", rows=np.r_[k, k], cols=np.r_[w.index(), u.index()],
               vals=np.ones(2 * k.size), lower=pb.sink_gap_mw, upper=pb.sink_demand_mw,
               n_rows=pb.n_sinks)


def _add_commodities(b: ModelBuilder, pb: HeatNetworkProblem, link: np.ndarray,
                     cap: np.ndarray, y: VarBlock, s: VarBlock, g: VarBlock) -> None:
    """One flow commodity per source on the links it covers (a stronger relaxation).

    ``c_e^i >= 0`` per direction on covered links, and deliveries ``t_g^i >= 0`` at
    gates those links touch::

        sum_in c^i - sum_out c^i + s_i [n = n_i] - sum_g t_g^i >= 0    (per node, source)
        sum_i t_g^i >= g_g                                              (per gate)
        c_e^{i+} + c_e^{i-} <= sum_d min(S_i, cap_ed) y_ed              (per link, source)

    A commodity may fade along its way (pipe losses) but never grow, and every MW a
    gate hands over must be traced to a source along that source's links. Any
    network whose heat keeps to its sources' links satisfies these rows, so they cut
    off no such network; the last row is what tightens the LP: a pipe carrying all
    of a small source's heat must be (nearly) whole, not a sliver of a big one.
    """
    assert pb.link_cover is not None
    li, si = np.nonzero(pb.link_cover)
    n, size = li.size, pb.source_mw[si]
    c_fw = b.add_vars("commodity_fw", n, ub=size)
    c_bw = b.add_vars("commodity_bw", n, ub=size)
    touch = np.zeros((pb.n_nodes, pb.n_sources), bool)
    touch[pb.link_u[li], si] = True
    touch[pb.link_v[li], si] = True
    touch[pb.source_node, np.arange(pb.n_sources)] = True
    gi, gs = np.nonzero(touch[pb.gate_node])
    t = b.add_vars("commodity_gate", gi.size, ub=pb.source_mw[gs])
    node = np.r_[pb.link_v[li], pb.link_u[li], pb.link_u[li], pb.link_v[li], pb.source_node,
                 pb.gate_node[gi]]
    src = np.r_[si, si, si, si, np.arange(pb.n_sources), gs]
    key, row = np.unique(node * max(pb.n_sources, 1) + src, return_inverse=True)
    one = np.ones(n)
    b.add_rows("commodity_balance", rows=row,
               cols=np.r_[c_fw.index(), c_fw.index(), c_bw.index(), c_bw.index(), s.index(),
                          t.index()],
               vals=np.r_[one, -one, one, -one, np.ones(pb.n_sources), -np.ones(gi.size)],
               lower=0.0, upper=np.inf, n_rows=key.size)
    b.add_rows("commodity_trace", rows=np.r_[gi, np.arange(g.size)],
               cols=np.r_[t.index(), g.index()],
               vals=np.r_[np.ones(gi.size), -np.ones(g.size)], lower=0.0, upper=np.inf,
               n_rows=g.size)
    # one row per (link, source): its two directions against the link's diameters
    order = np.argsort(link, kind="stable")
    ptr = np.r_[0, np.cumsum(np.bincount(link, minlength=pb.n_links))]
    reps = ptr[li + 1] - ptr[li]
    rows_y = np.repeat(np.arange(n), reps)
    starts = np.repeat(ptr[li], reps)
    within = np.arange(rows_y.size) - np.repeat(np.r_[0, np.cumsum(reps)[:-1]], reps)
    opt = order[starts + within]
    b.add_rows("commodity_link", rows=np.r_[np.arange(n), np.arange(n), rows_y],
               cols=np.r_[c_fw.index(), c_bw.index(), y.index(opt)],
               vals=np.r_[one, one, -np.minimum(size[rows_y], cap[opt])], lower=-np.inf,
               upper=0.0, n_rows=n)


# ------------------------------------------------------------------------ helpers


def _reachable(n: int, u: np.ndarray, v: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Boolean mask of nodes connected to any ``start`` node (undirected links)."""
    from scipy.sparse.csgraph import connected_components

    if n == 0:
        return np.zeros(0, bool)
    a = sp.coo_matrix((np.ones(u.size), (u, v)), shape=(n, n))
    _, label = connected_components(a, directed=False)
    if not start.size:
        return np.zeros(n, bool)
    return np.isin(label, label[start])
