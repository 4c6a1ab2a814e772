"""The pure-array heat-network model: hand-solved toys, errors, checker, brute force."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from siting.errors import InfeasibleError, InputError
from siting.heat.check import check_heat_solution
from siting.heat.problem import HeatNetworkProblem, PipeCatalogue
from siting.heat.solve import solve_heat
from siting.models.base import SolverOptions

EXACT = {"highs": SolverOptions("highs", mip_gap=0.0), "cbc": SolverOptions("cbc", mip_gap=0.0)}
SOLVERS = pytest.mark.parametrize("solver", ["highs", "cbc"])


def cat2(loss: float = 0.0) -> PipeCatalogue:
    """Two diameters: DN100 holds 5 MW at 100 CNY/m, DN200 holds 20 MW at 150 CNY/m."""
    return PipeCatalogue(dn=np.array([100, 200]), max_mw=np.array([5.0, 20.0]),
                         cost_cny_per_m=np.array([100.0, 150.0]),
                         loss_mw_per_m=np.array([loss, loss]))


def line(*, demand: float, value: float = 100_000.0, source_mw: float = 10.0,
         loss: float = 0.0, length: float = 1000.0, **kw: object) -> HeatNetworkProblem:
    """source (node 0) - node 1 - zone gate (node 2), two links of ``length`` m."""
    return HeatNetworkProblem.from_arrays(
        n_nodes=3, link_u=[0, 1], link_v=[1, 2], link_length_m=[length, length],
        catalogue=cat2(loss), annuity=0.1, source_node=[0], source_mw=[source_mw],
        gate_node=[2], gate_sink=[0], sink_demand_mw=[demand], sink_value_cny_per_mw_yr=value,
        **kw)


def solve(pb: HeatNetworkProblem, solver: str = "highs"):
    sol = solve_heat(pb, EXACT[solver])
    assert check_heat_solution(pb, sol) == []
    return sol


# ---------------------------------------------------------------- hand-solved toys


@SOLVERS
def test_line_needs_the_larger_diameter_on_both_links(solver):
    # 6 MW needs DN200 (capex 2 x 150 x 1000 = 300k, 30k/yr) against DN100's 5 MW
    # (20k/yr, 500k of heat): -570k beats -480k
    sol = solve(line(demand=6.0), solver)
    assert sol.result.status.value == "optimal"
    assert sol.dn_index.tolist() == [1, 1]
    assert sol.delivered_mw.tolist() == pytest.approx([6.0])
    assert sol.result.objective == pytest.approx(0.1 * 300_000 - 6 * 100_000)
    assert sol.costs["capex_cny"] == pytest.approx(300_000)


@SOLVERS
def test_a_choice_between_two_diameters(solver):
    small = solve(line(demand=4.0), solver)
    assert small.dn_index.tolist() == [0, 0]
    assert small.result.objective == pytest.approx(0.1 * 200_000 - 4 * 100_000)
    big = solve(line(demand=8.0), solver)
    assert big.dn_index.tolist() == [1, 1]
    assert big.result.objective == pytest.approx(0.1 * 300_000 - 8 * 100_000)


@SOLVERS
def test_nothing_is_built_when_heat_is_worth_less_than_the_pipe(solver):
    # 5 MW x 3k = 15k/yr < the cheapest pipe's 20k/yr
    sol = solve(line(demand=6.0, value=3_000.0), solver)
    assert (sol.dn_index == -1).all()
    assert sol.result.objective == pytest.approx(0.0)
    assert sol.delivered_mw.sum() == 0.0


@SOLVERS
def test_tree_sizes_trunk_and_branches(solver):
    # root 0 - junction 1 (2 km), 1 - zone A (1 km), 1 - zone B (1 km); 10 MW each
    cat = PipeCatalogue(dn=np.array([150, 250]), max_mw=np.array([12.0, 25.0]),
                        cost_cny_per_m=np.array([100.0, 160.0]),
                        loss_mw_per_m=np.array([0.0, 0.0]))
    pb = HeatNetworkProblem.from_arrays(
        n_nodes=4, link_u=[0, 1, 1], link_v=[1, 2, 3], link_length_m=[2000.0, 1000.0, 1000.0],
        catalogue=cat, annuity=0.1, source_node=[0], source_mw=[30.0], gate_node=[2, 3],
        gate_sink=[0, 1], sink_demand_mw=[10.0, 10.0], sink_value_cny_per_mw_yr=100_000.0)
    sol = solve(pb, solver)
    assert sol.dn_index.tolist() == [1, 0, 0]
    assert sol.inflow_mw.tolist() == pytest.approx([20.0, 10.0, 10.0])
    assert sol.result.objective == pytest.approx(0.1 * (2000 * 160 + 2 * 1000 * 100)
                                                 - 20 * 100_000)
    # every sink's heat is traced back to the one source
    assert sol.attribution.client.tolist() == [0, 1]
    assert sol.attribution.amount.tolist() == pytest.approx([1.0, 1.0])


@SOLVERS
def test_losses_are_taken_from_the_source_and_balance(solver):
    # 10 km at 0.1 MW/km: a 10 MW source delivers 9 MW to a zone wanting more
    pb = HeatNetworkProblem.from_arrays(
        n_nodes=2, link_u=[0], link_v=[1], link_length_m=[10_000.0], catalogue=cat2(1e-4),
        annuity=0.1, source_node=[0], source_mw=[10.0], gate_node=[1], gate_sink=[0],
        sink_demand_mw=[50.0], sink_value_cny_per_mw_yr=100_000.0)
    sol = solve(pb, solver)
    assert sol.dn_index.tolist() == [1]
    assert sol.loss_mw.tolist() == pytest.approx([1.0])
    assert sol.inflow_mw.tolist() == pytest.approx([10.0])
    assert sol.outflow_mw.tolist() == pytest.approx([9.0])
    assert sol.delivered_mw.tolist() == pytest.approx([9.0])
    assert sol.result.objective == pytest.approx(0.1 * 1.5e6 - 9 * 100_000)


def test_loss_counts_against_capacity():
    # DN200 holds 20 MW at its inlet: with 1 MW lost only 19 MW arrive
    pb = HeatNetworkProblem.from_arrays(
        n_nodes=2, link_u=[0], link_v=[1], link_length_m=[10_000.0], catalogue=cat2(1e-4),
        annuity=0.0, source_node=[0], source_mw=[40.0], gate_node=[1], gate_sink=[0],
        sink_demand_mw=[40.0], sink_value_cny_per_mw_yr=1.0)
    sol = solve(pb)
    assert sol.inflow_mw[0] == pytest.approx(20.0)
    assert sol.delivered_mw[0] == pytest.approx(19.0)


@SOLVERS
def test_demand_beyond_chp_is_unmet_unless_waste_heat_serves_it(solver):
    # demand 10, CHP 4: 6 MW unmet today. Waste heat (10 MW) fills the gap (penalty p
    # avoided) and displaces 4 MW of CHP (value v)
    pb = line(demand=10.0, source_mw=12.0, sink_chp_mw=[4.0], sink_unmet_cny_per_mw_yr=[50_000.0])
    sol = solve(pb, solver)
    assert sol.delivered_mw[0] == pytest.approx(10.0)
    assert sol.unmet_mw[0] == pytest.approx(0.0)
    assert sol.costs["displaced_value_cny"] == pytest.approx(4 * 100_000)
    assert sol.costs["unmet_avoided_cny"] == pytest.approx(6 * 50_000)
    assert sol.result.objective == pytest.approx(0.1 * 300_000 - 400_000 - 300_000)
    # with a worthless source nothing is built and the gap stays unmet at no extra cost
    idle = solve(line(demand=10.0, value=1.0, sink_chp_mw=[4.0], sink_unmet_cny_per_mw_yr=[1.0]))
    assert idle.unmet_mw[0] == pytest.approx(6.0)
    assert idle.chp_mw[0] == pytest.approx(4.0)
    assert idle.result.objective == pytest.approx(0.0)


def test_heat_pump_cost_can_make_a_source_not_worth_using():
    # operating cost 120k per MW-year against a value of 100k: leave it off
    sol = solve(line(demand=6.0, source_cost_cny_per_mw_yr=[120_000.0]))
    assert sol.supply_mw.sum() == 0.0
    sol = solve(line(demand=6.0, source_cost_cny_per_mw_yr=[20_000.0]))
    assert sol.supply_mw.sum() == pytest.approx(6.0)
    assert sol.costs["source_cost_cny"] == pytest.approx(6 * 20_000)


def test_forbidden_link_forces_the_detour_and_locked_link_is_built():
    # two routes 0->2: direct (1 km) or via node 1 (2 x 1 km)
    kw = dict(n_nodes=3, link_u=[0, 0, 1], link_v=[2, 1, 2], link_length_m=[1000.0] * 3,
              catalogue=cat2(), annuity=0.1, source_node=[0], source_mw=[5.0],
              gate_node=[2], gate_sink=[0], sink_demand_mw=[5.0],
              sink_value_cny_per_mw_yr=100_000.0)
    assert solve(HeatNetworkProblem.from_arrays(**kw)).dn_index.tolist() == [0, -1, -1]
    detour = solve(HeatNetworkProblem.from_arrays(**kw, forbidden=[0]))
    assert detour.dn_index.tolist() == [-1, 0, 0]
    locked = solve(HeatNetworkProblem.from_arrays(**kw, locked=np.array([False, True, False])))
    assert locked.dn_index[1] >= 0
    assert locked.result.objective > solve(HeatNetworkProblem.from_arrays(**kw)).result.objective


def test_link_bound_caps_flow_and_prunes_diameters():
    pb = line(demand=20.0, source_mw=20.0, link_max_mw=[4.0, 4.0])
    _, dn, cap = pb.options()
    assert dn.tolist() == [0, 0] and cap.tolist() == [4.0, 4.0]
    assert solve(pb).delivered_mw[0] == pytest.approx(4.0)


def test_tiers_solve_shortest_routes_first_and_keep_the_optimum():
    kw = dict(n_nodes=3, link_u=[0, 0, 1], link_v=[2, 1, 2], link_length_m=[3000.0, 1000.0,
                                                                           1000.0],
              catalogue=cat2(), annuity=0.1, source_node=[0], source_mw=[5.0], gate_node=[2],
              gate_sink=[0], sink_demand_mw=[5.0], sink_value_cny_per_mw_yr=100_000.0)
    # the direct link is tier 0 but the tier-1 detour is shorter: the second stage finds it
    sol = solve(HeatNetworkProblem.from_arrays(**kw, link_tier=[0, 1, 1]))
    assert sol.dn_index.tolist() == [-1, 0, 0]
    assert [r["stage"] for r in sol.result.model["stages"]] == ["shortest routes", "all links"]


@SOLVERS
def test_tiers_with_a_route_cover_prove_the_gap_with_the_strong_bound(solver):
    # source 0 -> zone at 3: shortest route 0-1-3 (tier 0), a longer alternative 0-2-3
    # (tier 1); the strong bound (HiGHS) proves the first network optimal
    kw = dict(n_nodes=4, link_u=[0, 1, 0, 2], link_v=[1, 3, 2, 3],
              link_length_m=[1000.0, 1000.0, 1100.0, 1100.0], catalogue=cat2(),
              annuity=0.1, source_node=[0], source_mw=[4.0], gate_node=[3], gate_sink=[0],
              sink_demand_mw=[10.0], sink_value_cny_per_mw_yr=100_000.0,
              link_tier=[0, 0, 1, 1], link_cover=np.ones((4, 1), bool))
    sol = solve(HeatNetworkProblem.from_arrays(**kw), solver)
    stages = [r["stage"] for r in sol.result.model["stages"]]
    assert stages[0] == "shortest routes"
    assert ("strong bound" in stages) == (solver == "highs")
    assert sol.dn_index.tolist() == [0, 0, -1, -1]
    assert sol.result.objective == pytest.approx(0.1 * 200_000 - 4 * 100_000)
    assert sol.result.bound <= sol.result.objective + 1e-6
    assert sol.result.status.value == "optimal"


def test_safe_lp_bound_is_a_valid_bound_close_to_the_lp_optimum():
    from siting.models.highs import safe_lp_bound
    from siting.models.solvers import run_solver

    pb = line(demand=6.0, loss=1e-4, link_cover=np.ones((2, 1), bool))
    model = pb.build_model(commodities=True)
    lp = run_solver(model, SolverOptions("highs"), relax=True)
    bound = safe_lp_bound(model, SolverOptions("highs"), time_limit_s=None)
    assert bound is not None
    assert bound <= lp.objective + 1e-9
    assert bound == pytest.approx(lp.objective, rel=1e-6)
    # a model with an unbounded column gives no safe bound rather than a wrong one
    assert safe_lp_bound(pb.build_model(), SolverOptions("highs"), time_limit_s=None) is None


def test_link_cover_must_match_links_and_sources():
    with pytest.raises(InputError, match=r"link_cover must be a boolean array of shape \(2, 1\)"):
        line(demand=1.0, link_cover=np.ones((3, 1), bool))



# ------------------------------------------------------------------------- errors


def test_bad_arrays_are_reported_together():
    with pytest.raises(InputError) as info:
        HeatNetworkProblem.from_arrays(
            n_nodes=2, link_u=[0, 5], link_v=[1], link_length_m=[-1.0, 2.0],
            catalogue=cat2(), annuity=-1.0, source_node=[3], source_mw=[1.0],
            gate_node=[1], gate_sink=[2], sink_demand_mw=[1.0],
            sink_value_cny_per_mw_yr=1.0)
    msg = str(info.value)
    for part in ("link_v has 1 values", "link_u holds indices outside 0..1",
                 "link_length_m must be >= 0", "source_node holds indices",
                 "gate_sink holds indices", "annuity=-1.0"):
        assert part in msg


def test_locked_and_forbidden_link_is_an_input_error():
    with pytest.raises(InputError, match="both locked and forbidden"):
        line(demand=1.0, locked=[0], forbidden=[0])


def test_catalogue_must_grow():
    with pytest.raises(InputError, match="DN and max_mw must both increase"):
        PipeCatalogue(dn=np.array([200, 100]), max_mw=np.array([5.0, 20.0]),
                      cost_cny_per_m=np.array([1.0, 2.0]), loss_mw_per_m=np.array([0.0, 0.0]))
    with pytest.raises(InputError, match="max_mw must be > 0"):
        PipeCatalogue(dn=np.array([100]), max_mw=np.array([0.0]),
                      cost_cny_per_m=np.array([1.0]), loss_mw_per_m=np.array([0.0]))


def test_locked_pipe_without_any_source_is_infeasible_before_solving():
    pb = HeatNetworkProblem.from_arrays(
        n_nodes=4, link_u=[0, 2], link_v=[1, 3], link_length_m=[100.0, 100.0],
        catalogue=cat2(), annuity=0.1, source_node=[0], source_mw=[5.0], gate_node=[1],
        gate_sink=[0], sink_demand_mw=[5.0], sink_value_cny_per_mw_yr=1.0, locked=[1])
    with pytest.raises(InfeasibleError, match="not connected to any heat source") as info:
        solve_heat(pb, "highs")
    assert info.value.constraint == "locked pipes"


def test_locked_pipes_losing_more_than_the_sources_hold_is_infeasible():
    pb = line(demand=1.0, source_mw=0.5, loss=1e-3, locked=[0, 1])  # 2 x 1 MW lost
    with pytest.raises(InfeasibleError, match=r"lose at least 2\.00 MW") as info:
        solve_heat(pb, "highs")
    assert info.value.shortfall == pytest.approx(1.5)


def test_locked_pipe_longer_than_any_diameter_can_feed():
    pb = line(demand=1.0, loss=1.0, length=100.0, locked=[0])  # 100 MW lost on 100 m
    with pytest.raises(InfeasibleError, match="cannot be built with any diameter"):
        solve_heat(pb, "highs")


# ------------------------------------------------------------------------ checker


def test_checker_catches_broken_networks():
    pb = line(demand=6.0)
    sol = solve(pb)
    over = dataclasses.replace(sol, dn_index=np.array([0, 1]))
    assert any("over its 5 MW capacity" in p for p in check_heat_solution(pb, over))
    leak = dataclasses.replace(sol, outflow_mw=sol.outflow_mw - np.array([0.5, 0.0]))
    found = check_heat_solution(pb, leak)
    assert any("does not balance" in p for p in found)
    assert any("minus loss" in p for p in found)
    greedy = dataclasses.replace(sol, supply_mw=np.array([11.0]))
    assert any("outside [0, 10]" in p for p in check_heat_solution(pb, greedy))
    cheat = dataclasses.replace(sol, result=dataclasses.replace(sol.result, objective=-1e9))
    assert any("objective recomputed" in p for p in check_heat_solution(pb, cheat))
    cut = dataclasses.replace(sol, dn_index=np.array([1, -1]), inflow_mw=np.array([6.0, 0.0]),
                              outflow_mw=np.array([6.0, 0.0]))
    found = check_heat_solution(pb, cut)
    assert any("reaches no gate" in p for p in found)
    assert any("no used source reaches it" in p for p in found)


# ---------------------------------------------------- brute force (independent LPs)


def brute_force(pb: HeatNetworkProblem) -> float:
    """Best objective over every (diameter or none, direction) per link, each scored by
    an LP of physical flows written here from scratch (scipy linprog)."""
    cat = pb.catalogue
    best = 0.0 if not pb.link_locked.any() else np.inf
    choices = [(-1, 0)] + [(d, s) for d in range(cat.size) for s in (0, 1)]
    gap = np.maximum(pb.sink_demand_mw - pb.sink_chp_mw, 0.0)
    for combo in itertools.product(choices, repeat=pb.n_links):
        dn = np.array([c[0] for c in combo])
        if (pb.link_locked & (dn < 0)).any() or (pb.link_forbidden & (dn >= 0)).any():
            continue
        built = np.flatnonzero(dn >= 0)
        # variables: inflow per built link, supply, gate flow, deliver, unmet
        nb, ns, ng, nk = built.size, pb.n_sources, pb.gate_node.size, pb.n_sinks
        nv = nb + ns + ng + 2 * nk
        c = np.zeros(nv)
        c[nb:nb + ns] = pb.source_cost_cny_per_mw_yr
        c[nb + ns + ng:nb + ns + ng + nk] = pb.sink_delivery_cost_cny_per_mw_yr \
            - pb.sink_value_cny_per_mw_yr
        c[nb + ns + ng + nk:] = pb.sink_unmet_cny_per_mw_yr - pb.sink_value_cny_per_mw_yr
        a_eq = np.zeros((pb.n_nodes + nk, nv))
        b_eq = np.zeros(pb.n_nodes + nk)
        bounds = []
        for j, e in enumerate(built):
            d, rev = combo[e]
            loss = pb.link_length_m[e] * cat.loss_mw_per_m[d]
            tail, head = (pb.link_v[e], pb.link_u[e]) if rev else (pb.link_u[e], pb.link_v[e])
            a_eq[tail, j] -= 1.0
            a_eq[head, j] += 1.0
            b_eq[head] += loss           # head receives inflow - loss
            bounds.append((loss, min(cat.max_mw[d], pb.link_max_mw[e])))
        for i in range(ns):
            a_eq[pb.source_node[i], nb + i] += 1.0
            bounds.append((0.0, pb.source_mw[i]))
        for g in range(ng):
            a_eq[pb.gate_node[g], nb + ns + g] -= 1.0
            a_eq[pb.n_nodes + pb.gate_sink[g], nb + ns + g] += 1.0
            bounds.append((0.0, None))
        for k in range(nk):
            a_eq[pb.n_nodes + k, nb + ns + ng + k] -= 1.0
            bounds.append((0.0, pb.sink_demand_mw[k]))
        bounds += [(0.0, gap[k]) for k in range(nk)]
        a_ub = np.zeros((2 * nk, nv))
        b_ub = np.zeros(2 * nk)
        for k in range(nk):  # gap <= w + u <= D
            a_ub[k, nb + ns + ng + k] = a_ub[k, nb + ns + ng + nk + k] = -1.0
            b_ub[k] = -gap[k]
            a_ub[nk + k, nb + ns + ng + k] = a_ub[nk + k, nb + ns + ng + nk + k] = 1.0
            b_ub[nk + k] = pb.sink_demand_mw[k]
        res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds,
                      method="highs")
        if res.status != 0:
            continue
        capex = sum(cat.cost_cny_per_m[dn[e]] * pb.link_length_m[e] + pb.link_extra_cny[e]
                    for e in built)
        total = pb.annuity * capex + res.fun + float(np.dot(pb.sink_value_cny_per_mw_yr
                                                            - pb.sink_unmet_cny_per_mw_yr, gap))
        best = min(best, total)
    return best


@st.composite
def small_networks(draw: st.DrawFn) -> HeatNetworkProblem:
    n = draw(st.integers(3, 4))
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    # sources sit on nodes 0-1 and gates on 2.., so heat needs pipes; a spine 1-2
    # keeps most examples connected
    links = [(1, 2), *draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=2))]
    length = draw(st.lists(st.floats(100.0, 3000.0), min_size=len(links), max_size=len(links)))
    n_src = draw(st.integers(1, 2))
    n_sink = draw(st.integers(1, 2))
    return HeatNetworkProblem.from_arrays(
        n_nodes=n, link_u=[a for a, _ in links], link_v=[b for _, b in links],
        link_length_m=length, catalogue=cat2(draw(st.sampled_from([0.0, 2e-4, 5e-4]))),
        annuity=0.1,
        source_node=draw(st.lists(st.integers(0, 1), min_size=n_src, max_size=n_src)),
        source_mw=draw(st.lists(st.floats(1.0, 25.0), min_size=n_src, max_size=n_src)),
        source_cost_cny_per_mw_yr=draw(st.lists(st.sampled_from([0.0, 30_000.0]),
                                                min_size=n_src, max_size=n_src)),
        gate_node=draw(st.lists(st.integers(2, n - 1), min_size=n_sink, max_size=n_sink)),
        gate_sink=list(range(n_sink)),
        sink_demand_mw=draw(st.lists(st.floats(1.0, 30.0), min_size=n_sink, max_size=n_sink)),
        sink_chp_mw=draw(st.lists(st.floats(0.0, 30.0), min_size=n_sink, max_size=n_sink)),
        sink_unmet_cny_per_mw_yr=50_000.0, sink_value_cny_per_mw_yr=60_000.0,
        link_tier=draw(st.lists(st.integers(0, 1), min_size=len(links), max_size=len(links))),
        link_cover=np.ones((len(links), n_src), bool) if draw(st.booleans()) else None)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(small_networks())
def test_mip_matches_brute_force_and_passes_the_checker(pb):
    sol = solve_heat(pb, SolverOptions("highs", mip_gap=0.0, mip_abs_gap=1e-7))
    assert check_heat_solution(pb, sol) == []
    assert sol.result.objective == pytest.approx(brute_force(pb), rel=1e-6, abs=1e-3)


def test_a_locked_stub_is_kept_warm_and_the_checker_accepts_only_its_losses():
    """A reviewer-approved pipe is built even where no heat need pass: its source then
    feeds the stub's losses, which the checker accepts, and nothing more."""
    # source at 0 feeds the zone at 1; the locked stub 0-2 leads nowhere
    pb = HeatNetworkProblem.from_arrays(
        n_nodes=3, link_u=[0, 0], link_v=[1, 2], link_length_m=[1000.0, 500.0],
        catalogue=cat2(loss=1e-4), annuity=0.1, source_node=[0], source_mw=[10.0],
        gate_node=[1], gate_sink=[0], sink_demand_mw=[3.0], sink_value_cny_per_mw_yr=1e5,
        locked=[1])
    sol = solve(pb)  # asserts the checker passes
    assert sol.dn_index[1] >= 0 and sol.loss_mw[1] == pytest.approx(0.05)
    # a source whose only heat leaves through the stub: fine up to the stub's losses
    lone = HeatNetworkProblem.from_arrays(
        n_nodes=4, link_u=[0, 3], link_v=[1, 2], link_length_m=[1000.0, 500.0],
        catalogue=cat2(loss=1e-4), annuity=0.1, source_node=[0, 3], source_mw=[10.0, 1.0],
        gate_node=[1], gate_sink=[0], sink_demand_mw=[3.0], sink_value_cny_per_mw_yr=1e5,
        locked=[1])
    sol = solve(lone)
    assert sol.supply_mw[1] == pytest.approx(sol.loss_mw[1])
    too_much = dataclasses.replace(
        sol, supply_mw=sol.supply_mw + np.array([0.0, 0.5]),
        inflow_mw=sol.inflow_mw + np.array([0.0, 0.5]),
        outflow_mw=sol.outflow_mw + np.array([0.0, 0.5]))
    found = check_heat_solution(lone, too_much)
    assert any("source 1 supplies" in v and "lose only 0.05 MW" in v for v in found), found
