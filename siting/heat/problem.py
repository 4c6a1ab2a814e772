"""Fixed-charge heat-network design on a candidate link graph, in plain arrays.

This is the pure-array way in to the waste-heat planner (:mod:`siting.heat.inputs` is the
Region/GeoDataFrame way, which builds these arrays from roads, plants and heating
zones). See :class:`HeatNetworkProblem` for the formulation.

Units: heat flows and capacities in MW (peak, design conditions), lengths in m,
money in CNY; per-year coefficients are CNY per MW-peak per year (the caller turns
annual energy into peak MW with its full-load hours, and pipe losses, which run all
season, with the season's hours: see ``loss_cny_per_mw_yr``).
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
           "RequiredFlow", "annuity_factor"]


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
class RequiredFlow:
    """An interconnection the network must carry (the plan asks for it).

    The heat of ``sources`` reaches a sink of ``stages[0]``, which takes at least
    ``min_mw[0]`` of it; from that sink's network (its out-gates) heat passes on to a
    sink of ``stages[1]``, which takes at least ``min_mw[1]``, and so on. A stage holds
    one or more sinks (e.g. the zones of one district); any of them may take the heat.
    """

    name: str
    sources: tuple[int, ...]
    stages: tuple[tuple[int, ...], ...]
    min_mw: tuple[float, ...]

    @classmethod
    def of(cls, name: str, sources: ArrayLike, stages: Any, min_mw: ArrayLike) -> RequiredFlow:
        """From index lists; a scalar ``min_mw`` applies to every stage."""
        st = tuple(tuple(int(k) for k in np.atleast_1d(s)) for s in stages)
        mw = np.asarray(min_mw, dtype=float)
        mw = np.full(len(st), float(mw)) if mw.ndim == 0 else mw.ravel()
        return cls(str(name), tuple(int(i) for i in np.atleast_1d(sources)), st,
                   tuple(float(x) for x in mw))


@dataclass(frozen=True)
class HeatSolution:
    """A heat network read back in physical terms, plus the solver's :class:`Result`.

    Per link ``e``: ``dn_index[e]`` is the catalogue position of the chosen diameter
    (``-1``: not built); heat enters at ``from_node[e]`` with ``inflow_mw[e]`` and
    leaves at the other end with ``outflow_mw[e] = inflow_mw[e] - loss_mw[e]``. Per
    source: ``supply_mw``; per gate (node, sink) pair: ``gate_mw``; per out-gate:
    ``gate_out_mw`` (heat a sink's network passes back to a pipe); per sink:
    ``delivered_mw`` (piped heat, ``gates - out-gates``), ``unmet_mw`` and ``chp_mw``
    (existing supply used). ``attribution`` gives, per (sink, source) pair, the share
    of the sink's demand met by that source's heat (proportional flow tracing).
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
    gate_out_mw: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __post_init__(self) -> None:
        for name in ("dn_index", "from_node"):
            object.__setattr__(self, name, frozen(getattr(self, name), np.int64))
        for name in ("inflow_mw", "outflow_mw", "loss_mw", "supply_mw", "gate_mw",
                     "delivered_mw", "unmet_mw", "chp_mw", "gate_out_mw"):
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
    ``G_k``, the nodes where a pipe may hand heat to the zone's network, and
    *out-gates* ``O_k``, the nodes where the zone's network may hand heat back to a
    pipe (the ends of interconnection trunks: heat passes on through an existing
    network, lossless, at most ``D_k`` in all; at a node that is both, heat goes one
    way, ``z_nk``). ``a`` is the capital recovery factor,
    ``v_k`` the value of one MW-year of displaced CHP heat, ``p_k`` the penalty of
    one MW-year of unmet demand, ``q_k`` the pumping cost of one MW-year delivered,
    ``lam`` the cost of one MW of pipe loss per year beyond what the balance charges
    (below).

    **Variables.** ``y_ed in {0,1}``: link ``e`` built with diameter ``d``;
    ``f_e^+, f_e^- >= 0``: flow along ``e`` from ``u_e`` to ``v_e`` and back;
    ``s_i in [0, S_i]``: heat from source ``i``; ``g_nk >= 0``: heat handed over at
    gate ``n`` of sink ``k``; ``o_nk >= 0``: heat passed back at out-gate ``n`` of
    ``k``; ``w_k in [0, D_k]``: piped heat delivered to ``k``;
    ``u_k in [0, (D_k - C_k)^+]``: unmet demand.

    **Losses, linearised.** A built pipe loses the fixed heat ``l_d L_e`` (MW) along
    its length whatever it carries (heat loss of buried pre-insulated pipe depends on
    temperatures and diameter, not on flow). The loss is charged half at each end
    node: with ``f`` the flow variable, heat ``f + l_d L_e / 2`` leaves the upstream
    node and ``f - l_d L_e / 2`` arrives downstream, which is exactly inflow minus
    loss. Capacity applies to the inflow: ``f + l_d L_e / 2 <= K_d``. The balance
    holds at peak, so the per-MW-year coefficients charge a loss over the full-load
    hours (it is made up by supply or missing from deliveries); losses run the whole
    heating season, and ``lam`` charges the rest of the season's hours:
    ``lam = (H_season - H_full) x`` the price of lost heat.

    **Model.**

    .. code-block:: text

        min  sum_ed (a (c_d L_e + X_e) + lam l_d L_e) y_ed  +  sum_i o_i s_i
             + sum_k q_k w_k - sum_k v_k (w_k + u_k - h_k)  -  sum_k p_k (h_k - u_k)
        s.t. sum_d y_ed <= 1                        (= 1 for locked links)   for all e
             f_e^+ + f_e^- <= sum_d min(K_d - l_d L_e / 2, U_e) y_ed             for all e
             sum_{e: v_e = n} (f_e^+ - f_e^-) - sum_{e: u_e = n} (f_e^+ - f_e^-)
               - sum_{e ∋ n} sum_d (l_d L_e / 2) y_ed + sum_{i: n_i = n} s_i
               - sum_k g_nk + sum_k o_nk = 0                                  for all n
             sum_{n in G_k} g_nk - sum_{n in O_k} o_nk = w_k                  for all k
             sum_{n in O_k} o_nk <= D_k                                       for all k
             o_nk <= D_k z_nk,  g_nk <= M_k (1 - z_nk),  z_nk in {0,1}     for n in G_k ∩ O_k
             h_k <= w_k + u_k <= D_k,   h_k = (D_k - C_k)^+                   for all k

    The objective is the net annual cost against today (no waste heat; the
    existing CHP covers what it can and ``h_k`` is unmet): pipe capex annuity plus
    heat-pump electricity plus pumping, minus the value of the CHP heat displaced
    (``w_k + u_k - h_k``: heat the CHP no longer has to make), minus the penalty
    avoided on formerly unmet demand. Negative is a net benefit; building nothing
    costs 0. The relative MIP gap is measured on this net figure. What a source's
    heat costs is the caller's ``o_i``: zero for industrial waste heat, heat-pump
    electricity for cooling water, fuel for extra CHP extraction (which thus earns no
    displacement value beyond its cost difference).

    **Required interconnections** (optional, ``required``; :class:`RequiredFlow`).
    For each, a flow of its own ``c^j`` per stage ``j`` on the links its sources may
    use, each riding on the real flow (``sum over all of them of c_e^{j+-} <=
    f_e^{+-}``): the stage-1 flow starts at its sources (at most ``s_i``), every
    stage enters its sinks' networks through their gates (at most ``g_nk``), each
    network keeps ``t^j_k`` (at least ``m_j`` over the stage's sinks, and never more
    than the ``w_k`` delivered) and passes the rest of its stage's flow on at its
    out-gates (at most ``o_nk``) as the next stage's flow; flows may fade (losses)
    but never grow. A network with a required interconnection thus carries heat from
    the sources into the first stage's network and on from it to the next.

    ``U_e`` is the smaller of the link's own bound ``link_max_mw`` and all the
    sources' heat. Diameters larger than the first one holding ``U_e`` are never
    offered (they cost and lose more and carry nothing more), nor are diameters
    whose loss over the link exceeds their capacity. Costs reach the solver in
    thousands of CNY (better scaled); results are in CNY.

    **Routes (optional).** With ``link_cover`` (links x sources) the heat of source
    ``i`` may travel only on the links ``i`` covers. The model above relaxes that
    (it only bounds each link's flow by ``U_e``); the networks reported keep to it,
    their flows re-optimised in the extended model of :func:`_add_commodities`. A
    required interconnection's flows use only the links its sources cover. How
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
    outgate_node: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    outgate_sink: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    loss_cny_per_mw_yr: float = 0.0
    required: tuple[RequiredFlow, ...] = ()
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
        outgate_node: ArrayLike | None = None, outgate_sink: ArrayLike | None = None,
        loss_cny_per_mw_yr: float = 0.0, required: Any = (),
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
        Out-gates are ``(outgate_node[o], outgate_sink[o])`` pairs (default none);
        ``loss_cny_per_mw_yr`` (default 0) prices a built pipe's heat loss per MW and
        year beyond the balance (the season's hours past the full-load hours);
        ``required`` is a sequence of :class:`RequiredFlow`.
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
        o_node, o_sink = (np.empty(0, np.int64) if a is None or np.size(a) == 0
                          else np.asarray(a).ravel() for a in (outgate_node, outgate_sink))
        if o_node.size != o_sink.size:
            problems.append(f"outgate_node ({o_node.size}) and outgate_sink ({o_sink.size}) "
                            f"differ in length")
        check_index(o_node, n_nodes, "outgate_node", problems)
        check_index(o_sink, n_sink, "outgate_sink", problems)
        if not (isinstance(loss_cny_per_mw_yr, int | float) and
                math.isfinite(loss_cny_per_mw_yr) and loss_cny_per_mw_yr >= 0):
            problems.append(f"loss_cny_per_mw_yr={loss_cny_per_mw_yr!r} must be a finite "
                            f"number >= 0")
        reqs = tuple(required)
        for req in reqs:
            problems += _required_problems(req, n_src, n_sink)
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
            sink_delivery_cost_cny_per_mw_yr=frozen(deliv, np.float64),
            outgate_node=frozen(o_node, np.int64), outgate_sink=frozen(o_sink, np.int64),
            loss_cny_per_mw_yr=float(loss_cny_per_mw_yr), required=reqs, name=name)

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

    def required_links(self, r: int) -> np.ndarray:
        """Links the flows of required interconnection ``r`` may use: those its sources
        cover (every link without ``link_cover``)."""
        if self.link_cover is None:
            return np.arange(self.n_links)
        return np.flatnonzero(self.link_cover[:, list(self.required[r].sources)].any(axis=1))

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
        for r in range(len(self.required)):
            self._check_required(r)
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

    def _check_required(self, r: int) -> None:
        """A required interconnection's sources hold its heat, its stages' sinks can take
        it, and allowed links join every stage to the next."""
        req = self.required[r]
        what = f"{self.name}: required interconnection {req.name!r}"
        src = np.asarray(req.sources, np.int64)
        held = float(self.source_mw[src].sum())
        need = float(sum(req.min_mw))
        if held + 1e-9 < need:
            raise InfeasibleError(
                f"{what} needs {need:.2f} MW but its sources hold only {held:.2f} MW",
                constraint=f"required interconnection {req.name}", shortfall=need - held)
        for j, (stage, mw) in enumerate(zip(req.stages, req.min_mw, strict=True)):
            room = float(self.sink_demand_mw[list(stage)].sum())
            if room + 1e-9 < mw:
                raise InfeasibleError(
                    f"{what}: stage {j + 1} (sinks {list(stage)}) must take {mw:.2f} MW but "
                    f"its demand is only {room:.2f} MW", constraint=f"required "
                    f"interconnection {req.name}", shortfall=mw - room)
        links = self.required_links(r)
        links = links[~self.link_forbidden[links]]
        has = np.zeros(self.n_links, bool)
        has[self.options()[0]] = True
        links = links[has[links]]
        starts = self.source_node[src]
        for j, stage in enumerate(req.stages):
            gates = self.gate_node[np.isin(self.gate_sink, stage)]
            reach = _reachable(self.n_nodes, self.link_u[links], self.link_v[links], starts)
            if not gates.size or not reach[gates].any():
                frm = "its sources" if j == 0 else f"stage {j} (sinks {list(req.stages[j - 1])})"
                raise InfeasibleError(
                    f"{what}: no allowed pipe route joins {frm} to stage {j + 1} (sinks "
                    f"{list(stage)}); allow the links (red line, rejected pipes) or drop the "
                    f"requirement", constraint=f"required interconnection {req.name}",
                    shortfall=float(req.min_mw[j]))
            if j + 1 < len(req.stages):   # heat passes on through the stage's networks
                starts = self.outgate_node[np.isin(self.outgate_sink, stage)]
                if not starts.size:
                    raise InfeasibleError(
                        f"{what}: stage {j + 1} (sinks {list(stage)}) has no trunk to pass "
                        f"heat on to stage {j + 2} (no out-gate)",
                        constraint=f"required interconnection {req.name}",
                        shortfall=float(req.min_mw[j + 1]))

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
        loss = self.link_length_m[link] * cat.loss_mw_per_m[dn]
        y = b.add_vars("build", link.size, ub=1.0, integer=True,
                       cost=k * (self.annuity * capex + self.loss_cny_per_mw_yr * loss))
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
        o = b.add_vars("gate_out", self.outgate_node.size,
                       ub=self.sink_demand_mw[self.outgate_sink])
        gap = self.sink_gap_mw
        value, penalty = self.sink_value_cny_per_mw_yr, self.sink_unmet_cny_per_mw_yr
        w = b.add_vars("deliver", self.n_sinks, ub=self.sink_demand_mw,
                       cost=k * (self.sink_delivery_cost_cny_per_mw_yr - value))
        u = b.add_vars("unmet", self.n_sinks, ub=gap, cost=k * (penalty - value))
        b.offset = k * float(np.dot(value - penalty, gap))
        _add_one_diameter(b, self, link, y)
        _add_capacity(b, link, cap, y, f_fw, f_bw)
        _add_balance(b, self, link, dn, y, f_fw, f_bw, s, g, o)
        _add_sinks(b, self, g, o, w, u)
        _add_one_way(b, self, g, o)
        _add_required(b, self, link, dn, cap, y, f_fw, f_bw, s, g, o, w)
        if commodities:
            if self.link_cover is None:
                raise InputError(f"{self.name}: commodities need link_cover")
            _add_commodities(b, self, link, cap, y, s, g, o)
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
        loss = float(np.sum(self.catalogue.loss_mw_per_m[dn_index[built]]
                            * self.link_length_m[built]))
        value = self.sink_value_cny_per_mw_yr
        gap = self.sink_gap_mw
        terms = {
            "capex_cny": capex,
            "capex_annual_cny": self.annuity * capex,
            "loss_cost_cny": self.loss_cny_per_mw_yr * loss,
            "source_cost_cny": float(np.dot(self.source_cost_cny_per_mw_yr, supply_mw)),
            "delivery_cost_cny": float(np.dot(self.sink_delivery_cost_cny_per_mw_yr,
                                              delivered_mw)),
            "displaced_value_cny": float(np.dot(value, delivered_mw + unmet_mw - gap)),
            "unmet_avoided_cny": float(np.dot(self.sink_unmet_cny_per_mw_yr, gap - unmet_mw)),
            "unmet_cost_cny": float(np.dot(self.sink_unmet_cny_per_mw_yr, unmet_mw)),
        }
        terms["objective_cny"] = (terms["capex_annual_cny"] + terms["loss_cost_cny"]
                                  + terms["source_cost_cny"]
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
                 g: VarBlock, o: VarBlock) -> None:
    """Heat balance with half of each built pipe's loss charged at each end."""
    n = pb.n_links
    u, v = pb.link_u, pb.link_v
    half = pb.link_length_m[link] * pb.catalogue.loss_mw_per_m[dn] / 2.0
    ones = np.ones(n)
    rows = np.r_[v, u, v, u, pb.link_u[link], pb.link_v[link], pb.source_node, pb.gate_node,
                 pb.outgate_node]
    cols = np.r_[f_fw.index(), f_fw.index(), f_bw.index(), f_bw.index(), y.index(),
                 y.index(), s.index(), g.index(), o.index()]
    vals = np.r_[ones, -ones, -ones, ones, -half, -half, np.ones(s.size), -np.ones(g.size),
                 np.ones(o.size)]
    b.add_rows("balance", rows=rows, cols=cols, vals=vals, lower=0.0, upper=0.0,
               n_rows=pb.n_nodes)


def _add_sinks(b: ModelBuilder, pb: HeatNetworkProblem, g: VarBlock, o: VarBlock,
               w: VarBlock, u: VarBlock) -> None:
    """Gates feed their sink, out-gates pass heat on (at most ``D_k`` in all);
    ``gap_k <= w_k + u_k <= D_k``."""
    k = np.arange(pb.n_sinks)
    b.add_rows("sink_inflow", rows=np.r_[pb.gate_sink, pb.outgate_sink, k],
               cols=np.r_[g.index(), o.index(), w.index()],
               vals=np.r_[np.ones(g.size), -np.ones(o.size), -np.ones(k.size)], lower=0.0,
               upper=0.0, n_rows=pb.n_sinks)
    if o.size:
        used = np.unique(pb.outgate_sink)
        row = np.searchsorted(used, pb.outgate_sink)
        b.add_rows("pass_on", rows=row, cols=o.index(), vals=np.ones(o.size), lower=0.0,
                   upper=pb.sink_demand_mw[used], n_rows=used.size)
    b.add_rows("sink_cover", rows=np.r_[k, k], cols=np.r_[w.index(), u.index()],
               vals=np.ones(2 * k.size), lower=pb.sink_gap_mw, upper=pb.sink_demand_mw,
               n_rows=pb.n_sinks)


def one_way_pairs(pb: HeatNetworkProblem) -> tuple[np.ndarray, np.ndarray]:
    """``(out-gate, gate)`` index pairs at the same node and sink."""
    key = {(int(n), int(k)): i for i, (n, k) in enumerate(zip(pb.gate_node, pb.gate_sink,
                                                               strict=True))}
    pairs = [(o, key[(int(n), int(k))]) for o, (n, k) in
             enumerate(zip(pb.outgate_node, pb.outgate_sink, strict=True))
             if (int(n), int(k)) in key]
    return (np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs],
                                                                 np.int64))


def _add_one_way(b: ModelBuilder, pb: HeatNetworkProblem, g: VarBlock, o: VarBlock) -> None:
    """At a node that is both a gate and an out-gate of one sink, heat goes one way:
    ``o <= D_k z``, ``g <= M_k (1 - z)`` with ``M_k = min(D_k, sum S_i)``."""
    oi, gi = one_way_pairs(pb)
    z = b.add_vars("gate_way", oi.size, ub=1.0, integer=True)
    if not oi.size:
        return
    k = pb.outgate_sink[oi]
    big = np.minimum(pb.sink_demand_mw[k], float(pb.source_mw.sum()))
    r = np.arange(oi.size)
    b.add_rows("gate_one_way_out", rows=np.r_[r, r], cols=np.r_[o.index(oi), z.index()],
               vals=np.r_[np.ones(oi.size), -pb.sink_demand_mw[k]], lower=-np.inf, upper=0.0,
               n_rows=oi.size)
    b.add_rows("gate_one_way_in", rows=np.r_[r, r], cols=np.r_[g.index(gi), z.index()],
               vals=np.r_[np.ones(oi.size), big], lower=-np.inf, upper=big, n_rows=oi.size)


def _add_required(b: ModelBuilder, pb: HeatNetworkProblem, link: np.ndarray,
                  dn: np.ndarray, cap: np.ndarray, y: VarBlock, f_fw: VarBlock,
                  f_bw: VarBlock,
                  s: VarBlock, g: VarBlock, o: VarBlock, w: VarBlock) -> None:
    """The flows of the required interconnections (see the class docstring)::

        in^j_n - out^j_n + [j = 1] s_i [n = n_i]
            + [j > 1] sum_{o at n} p^{j-1}_o - sum_{g at n} a^j_g >= 0  (per part, node)
        sum_{g in G_k} a^j_g - t^j_k - sum_{o in O_k} p^j_o >= 0      (per stage, sink)
        sum_{k in stage j} t^j_k >= m_j                               (per stage)
        c_e^{j+} + c_e^{j-} <= sum_d min(M, cap_ed) y_ed              (per part, link)
        sum c_e^{+-} <= f_e^{+-},  sum a_g <= g_g,  sum p_o <= o_o,  sum t_k <= w_k
        sum (c_e^+ + c_e^-) <= f_e^+ + f_e^- - sum_d (l_d L_e / 2) y_ed   (what arrives)

    The first stage's flow comes in one part per source (on the links that source
    covers), every later stage's in one part. A stage's flow need carry no more than
    what is still required, ``M_j = m_j + m_{j+1} + ...``, and a source's part no more
    than its heat ``S_i``; ``M`` is the smaller, so every variable is bounded (the
    safe LP bound applies) and a pipe carrying a part must be (nearly) whole: the row
    against the diameters is what makes the LP bound of a required trunk tight.
    """
    if not pb.required:
        return
    couple: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {
        k: ([], []) for k in ("flow_fw", "flow_bw", "gate", "gate_out", "deliver")}

    def join(key: str, local: np.ndarray, cols: np.ndarray) -> None:
        couple[key][0].append(np.asarray(local, np.int64))
        couple[key][1].append(cols)

    order = np.argsort(link, kind="stable")
    ptr = np.r_[0, np.cumsum(np.bincount(link, minlength=pb.n_links))]

    def options_of(links: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row within ``links``, option index) of every diameter option of ``links``."""
        reps = ptr[links + 1] - ptr[links]
        rows = np.repeat(np.arange(links.size), reps)
        within = np.arange(rows.size) - np.repeat(np.r_[0, np.cumsum(reps)[:-1]], reps)
        return rows, order[np.repeat(ptr[links], reps) + within]

    for r, req in enumerate(pb.required):
        src = np.asarray(req.sources, np.int64)
        still = np.cumsum(np.asarray(req.min_mw, float)[::-1])[::-1]   # M_j
        prev: tuple[np.ndarray, VarBlock] | None = None
        for j, stage in enumerate(req.stages):
            tag = f"required_{r}_{j}"
            big = float(still[j])
            sinks = np.unique(np.asarray(stage, np.int64))
            gi = np.flatnonzero(np.isin(pb.gate_sink, sinks))
            last = j == len(req.stages) - 1
            oi = np.empty(0, np.int64) if last else \
                np.flatnonzero(np.isin(pb.outgate_sink, sinks))
            if prev is None:   # one part per source, on the links it covers
                parts = [(pb.required_links(r) if pb.link_cover is None else
                          np.flatnonzero(pb.link_cover[:, i]), pb.source_node[[i]],
                          s.index([i]), min(big, float(pb.source_mw[i]))) for i in src]
            else:
                parts = [(pb.required_links(r), pb.outgate_node[prev[0]], prev[1].index(), big)]
            entering: list[VarBlock] = []
            for q, (links, start_node, start_col, most) in enumerate(parts):
                ptag = f"{tag}_{q}"
                u, v = pb.link_u[links], pb.link_v[links]
                one = np.ones(links.size)
                c_fw = b.add_vars(f"{ptag}_fw", links.size, ub=most)
                c_bw = b.add_vars(f"{ptag}_bw", links.size, ub=most)
                a = b.add_vars(f"{ptag}_in", gi.size, ub=most)
                node = np.r_[v, u, u, v, start_node, pb.gate_node[gi]]
                key, row = np.unique(node, return_inverse=True)
                b.add_rows(f"{ptag}_balance", rows=row,
                           cols=np.r_[c_fw.index(), c_fw.index(), c_bw.index(), c_bw.index(),
                                      start_col, a.index()],
                           vals=np.r_[one, -one, one, -one, np.ones(start_node.size),
                                      -np.ones(gi.size)], lower=0.0, upper=np.inf,
                           n_rows=key.size)
                rows_y, opt = options_of(links)
                b.add_rows(f"{ptag}_pipe", rows=np.r_[np.arange(links.size),
                                                      np.arange(links.size), rows_y],
                           cols=np.r_[c_fw.index(), c_bw.index(), y.index(opt)],
                           vals=np.r_[one, one, -np.minimum(most, cap[opt])], lower=-np.inf,
                           upper=0.0, n_rows=links.size)
                join("flow_fw", links, c_fw.index())
                join("flow_bw", links, c_bw.index())
                join("gate", gi, a.index())
                entering.append(a)
            t = b.add_vars(f"{tag}_take", sinks.size,
                           ub=np.minimum(pb.sink_demand_mw[sinks], req.min_mw[j]))
            p = b.add_vars(f"{tag}_on", oi.size, ub=big - req.min_mw[j])
            where = np.full(pb.n_sinks, -1, np.int64)
            where[sinks] = np.arange(sinks.size)
            into = where[pb.gate_sink[gi]]
            b.add_rows(f"{tag}_network",
                       rows=np.r_[np.tile(into, len(entering)), np.arange(sinks.size),
                                  where[pb.outgate_sink[oi]]],
                       cols=np.r_[np.concatenate([a.index() for a in entering]), t.index(),
                                  p.index()],
                       vals=np.r_[np.ones(gi.size * len(entering)), -np.ones(sinks.size),
                                  -np.ones(oi.size)],
                       lower=0.0, upper=np.inf, n_rows=sinks.size)
            b.add_rows(f"{tag}_take_min", rows=np.zeros(sinks.size, np.int64), cols=t.index(),
                       vals=np.ones(sinks.size), lower=float(req.min_mw[j]), upper=np.inf,
                       n_rows=1)
            join("gate_out", oi, p.index())
            join("deliver", sinks, t.index())
            prev = (oi, p)
    for name, real in (("flow_fw", f_fw), ("flow_bw", f_bw), ("gate", g), ("gate_out", o),
                       ("deliver", w)):
        local_idx, cols = (np.concatenate(x) if x else np.empty(0, np.int64)
                           for x in couple[name])
        if not local_idx.size:
            continue
        used, row = np.unique(local_idx, return_inverse=True)
        b.add_rows(f"required_{name}", rows=np.r_[row, np.arange(used.size)],
                   cols=np.r_[cols, real.index(used)],
                   vals=np.r_[np.ones(cols.size), -np.ones(used.size)], lower=-np.inf,
                   upper=0.0, n_rows=used.size)
    # what arrives: the flows on a link are at most its flow less half its loss
    e_idx = np.concatenate(couple["flow_fw"][0] + couple["flow_bw"][0])
    e_col = np.concatenate(couple["flow_fw"][1] + couple["flow_bw"][1])
    used, row = np.unique(e_idx, return_inverse=True)
    where = np.full(pb.n_links, -1, np.int64)
    where[used] = np.arange(used.size)
    opt = np.flatnonzero(where[link] >= 0)
    half = pb.link_length_m[link[opt]] * pb.catalogue.loss_mw_per_m[dn[opt]] / 2.0
    b.add_rows("required_arrive",
               rows=np.r_[row, np.arange(used.size), np.arange(used.size), where[link[opt]]],
               cols=np.r_[e_col, f_fw.index(used), f_bw.index(used), y.index(opt)],
               vals=np.r_[np.ones(e_col.size), -np.ones(2 * used.size), half],
               lower=-np.inf, upper=0.0, n_rows=used.size)


def _add_commodities(b: ModelBuilder, pb: HeatNetworkProblem, link: np.ndarray,
                     cap: np.ndarray, y: VarBlock, s: VarBlock, g: VarBlock,
                     o: VarBlock) -> None:
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

    Out-gates pass commodities on through a sink's network: ``r_o^i >= 0`` leaves at
    out-gate ``o`` of sink ``k`` (entering the node balance), with
    ``sum_{g in G_k} t_g^i - sum_{o in O_k} r_o^i >= 0`` per (sink, source) and
    ``sum_i r_o^i <= o_o``.
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
    # out-gates: a source's heat may leave a sink's network it can enter
    enters = np.zeros((pb.n_sinks, pb.n_sources), bool)
    enters[pb.gate_sink[gi], gs] = True
    oi, os_ = np.nonzero(enters[pb.outgate_sink])
    r = b.add_vars("commodity_out", oi.size, ub=pb.source_mw[os_])
    node = np.r_[pb.link_v[li], pb.link_u[li], pb.link_u[li], pb.link_v[li], pb.source_node,
                 pb.gate_node[gi], pb.outgate_node[oi]]
    src = np.r_[si, si, si, si, np.arange(pb.n_sources), gs, os_]
    key, row = np.unique(node * max(pb.n_sources, 1) + src, return_inverse=True)
    one = np.ones(n)
    b.add_rows("commodity_balance", rows=row,
               cols=np.r_[c_fw.index(), c_fw.index(), c_bw.index(), c_bw.index(), s.index(),
                          t.index(), r.index()],
               vals=np.r_[one, -one, one, -one, np.ones(pb.n_sources), -np.ones(gi.size),
                          np.ones(oi.size)],
               lower=0.0, upper=np.inf, n_rows=key.size)
    if oi.size:
        into = np.flatnonzero(np.isin(pb.gate_sink[gi], pb.outgate_sink))
        hub_key, hub_row = np.unique(
            np.r_[pb.gate_sink[gi[into]], pb.outgate_sink[oi]] * max(pb.n_sources, 1)
            + np.r_[gs[into], os_], return_inverse=True)
        b.add_rows("commodity_hub", rows=hub_row, cols=np.r_[t.index(into), r.index()],
                   vals=np.r_[np.ones(into.size), -np.ones(oi.size)], lower=0.0,
                   upper=np.inf, n_rows=hub_key.size)
        b.add_rows("commodity_pass_on", rows=np.r_[oi, np.arange(o.size)],
                   cols=np.r_[r.index(), o.index()],
                   vals=np.r_[np.ones(oi.size), -np.ones(o.size)], lower=-np.inf,
                   upper=0.0, n_rows=o.size)
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


def _required_problems(req: Any, n_src: int, n_sink: int) -> list[str]:
    if not isinstance(req, RequiredFlow):
        return [f"required: expected RequiredFlow items (got {type(req).__name__})"]
    out = []
    what = f"required interconnection {req.name!r}"
    if not req.sources:
        out.append(f"{what} names no source")
    elif min(req.sources) < 0 or max(req.sources) >= n_src:
        out.append(f"{what}: source index outside 0..{n_src - 1}")
    if not req.stages or any(not s for s in req.stages):
        out.append(f"{what}: every stage needs at least one sink")
    elif min(min(s) for s in req.stages) < 0 or max(max(s) for s in req.stages) >= n_sink:
        out.append(f"{what}: sink index outside 0..{n_sink - 1}")
    if len(req.min_mw) != len(req.stages):
        out.append(f"{what}: {len(req.min_mw)} min_mw values for {len(req.stages)} stages")
    elif any(not (math.isfinite(m) and m >= 0) for m in req.min_mw):
        out.append(f"{what}: min_mw must be finite and >= 0")
    return out


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
