"""One charger station set for every scenario of a sweep (``--robust``).

The question: which stations to build when the scenario is uncertain, with piles
sized later, per scenario. Formally, with ``S`` the sweep's scenarios (equally
likely), ``x`` a station set and ``c_s(x)`` the least annual cost of scenario ``s``
with exactly the stations ``x`` open (piles optimised)::

    expected:  min_x  (1/|S|) Σ_s c_s(x)
    regret:    min_x  max_s (c_s(x) - c_s*)      c_s* = s's own optimum (best known)

**Method (a heuristic, never claimed optimal): scenario-plan selection.** The
candidates are the station sets of each scenario's own plan. Every candidate is
evaluated in every other scenario with its stations fixed (every station of the set
approved, every other candidate rejected, through reviewer decisions: see
:mod:`siting.decisions`; the piles are still optimised, and the fleet depots and hubs
are sized for the fleets as always); in its own scenario its cost is its own plan's.
The candidate with the lowest expected cost (or the lowest maximum regret) is chosen.
Then, with ``moves`` > 0 (the CLI's ``--robust-moves``, 3 by default), a short local
search from it: block add/drop/swap moves guided by how many scenario plans open each
station (:func:`block_moves`), each evaluated the same way, kept while it improves.

**Bound: wait-and-see.** ``(1/|S|) Σ_s LB_s``, the mean of each scenario's own MIP
bound, is below the expected cost of any fixed set (each scenario planned with its
own stations can do no worse), so ``gap = (E - WS) / E`` bounds how far the chosen set
can be from the best fixed set. Costs are the charger model's objective
(``objective_cny_per_year``), each from a MIP solved to the scenario's gap.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from siting.config import Scenario
from siting.errors import InputError
from siting.io import digest, write_json

logger = logging.getLogger(__name__)

METHOD = ("scenario-plan selection (candidates: the station set of each scenario's own plan; "
          "each evaluated in every other scenario with its stations fixed and piles "
          "re-sized); "
          "no local search; bound: wait-and-see (mean of the scenarios' own MIP bounds)")
MODES = ("expected", "regret")


def station_sets(records: Sequence[Mapping[str, Any]], out: Path
                 ) -> tuple[dict[str, frozenset[str]], dict[str, tuple[float, float]]]:
    """Each finished run's public charger stations (run id -> ids; fleet depots and hubs
    left out) and every station's lon/lat, read from the runs' ``plan.gpkg``."""
    import pyogrio

    sets: dict[str, frozenset[str]] = {}
    where: dict[str, tuple[float, float]] = {}
    for rec in records:
        if rec.get("status") != "ok" or "chargers" not in (rec.get("kpis") or {}):
            continue
        path = out / "runs" / str(rec["run_id"]) / "plan.gpkg"
        try:
            frame = pyogrio.read_dataframe(path, layer="charging_stations",
                                           columns=["id", "fleet"])
        except Exception as exc:  # a run folder damaged after the run: report, go on
            logger.warning("%s: cannot read charging_stations (%s); run left out", path, exc)
            continue
        public = frame[frame["fleet"].isna()] if "fleet" in frame.columns else frame
        sets[str(rec["run_id"])] = frozenset(map(str, public["id"]))
        for ident, geom in zip(frame["id"], frame.geometry, strict=True):
            where[str(ident)] = (round(float(geom.x), 6), round(float(geom.y), 6))
    return sets, where


def robust_stations(records: Sequence[Mapping[str, Any]], scenarios: Sequence[Scenario], *,
                    out: Path, mode: str, executor: Callable[[], Any],
                    payload: Callable[[int], Any],
                    solver: str | None, time_limit_s: float | None, scenario_file: Any,
                    evaluate: Callable[..., dict[str, Any]], moves: int = 0,
                    stations: tuple[dict[str, frozenset[str]],
                                    dict[str, tuple[float, float]]] | None = None
                    ) -> dict[str, Any]:
    """Choose the robust station set (see the module docstring); write ``robust.json``.

    ``records`` and ``scenarios`` are the sweep's runs in order; ``payload(i)`` run
    ``i``'s region on the workers; ``executor()`` the Dask executor, started only when
    some evaluation is not yet cached in ``out/robust/evals/`` (a rerun reuses them).
    ``moves``: at most this many move sets of the local search (:func:`block_moves`)
    are evaluated, each in every scenario, after the scenario-plan selection.
    ``stations``: :func:`station_sets` of ``records`` when the caller has read them.

    Raises:
        InputError: an unknown ``mode``, a negative ``moves``, or no scenario with a
            charger plan.
    """
    if mode not in MODES:
        raise InputError(f"--robust {mode}: choose {' or '.join(MODES)}")
    if moves < 0:
        raise InputError(f"--robust-moves {moves}: give 0 or more move sets to evaluate")
    sets, where = stations if stations is not None else station_sets(records, out)
    order = [i for i, r in enumerate(records) if str(r["run_id"]) in sets]
    if not order:
        raise InputError("--robust: no run of the sweep has a charger plan to start from "
                         "(every run failed; see sweep.csv)")
    run_ids = [str(records[i]["run_id"]) for i in order]
    candidates: dict[str, frozenset[str]] = {}
    origin: dict[str, list[str]] = {}
    for rid in run_ids:
        key = set_key(sets[rid])
        candidates.setdefault(key, sets[rid])
        origin.setdefault(key, []).append(rid)
    evals = out / "robust" / "evals"
    results: dict[tuple[str, str], dict[str, Any]] = {}

    def run(new: Mapping[str, frozenset[str]], desc: str) -> None:
        """Evaluate every set of ``new`` in every scenario (cached ones are read)."""
        calls, slots = [], []
        for ckey, stations in new.items():
            for i, rid in zip(order, run_ids, strict=True):
                if rid in origin.get(ckey, ()):  # the set's own plan has exactly it open
                    k = records[i]["kpis"]["chargers"]
                    results[(ckey, rid)] = {
                        "candidate": ckey, "run_id": rid,
                        "objective": _num(k.get("objective_cny_per_year")),
                        "bound": k.get("bound_cny_per_year"), "status": k.get("status"),
                        "mip_gap": k.get("mip_gap"), "fixed": True, "diagnosis": "",
                        "piles_total": k.get("piles_total"), "own_plan": True}
                    continue
                path = evals / f"{ckey}-{rid}.json"
                cached = _cached(path, ckey, rid)
                if cached is not None:
                    logger.debug("robust: %s in %s reused from %s", ckey, rid, path)
                    results[(ckey, rid)] = cached
                    continue
                calls.append(((payload(i), scenarios[i]),
                              dict(stations=sorted(stations), solver=solver,
                                   time_limit_s=time_limit_s, scenario_file=scenario_file,
                                   path=str(path), tag={"candidate": ckey, "run_id": rid})))
                slots.append((ckey, rid))

        def lost(j: int, exc: BaseException) -> dict[str, Any]:
            return {"candidate": slots[j][0], "run_id": slots[j][1], "objective": math.inf,
                    "status": "error", "diagnosis": f"workers lost: {exc}", "fixed": False}

        if calls:
            for slot, rec in zip(slots, executor().run(evaluate, calls, desc=desc,
                                                       on_lost=lost), strict=True):
                results[slot] = rec

    run(candidates, "robust")
    described: dict[str, str] = {}
    search: list[dict[str, Any]] = []
    budget = moves
    while budget > 0:
        table = _table(run_ids, candidates, origin, results, described)
        current = min(table, key=lambda row: _score(row, mode))
        new = [(text, s) for text, s in block_moves(candidates[current["candidate"]],
                                                     [sets[r] for r in run_ids])
               if set_key(s) not in candidates][:budget]
        if not new:
            break
        budget -= len(new)
        batch = {set_key(s): s for _, s in new}
        candidates.update(batch)
        described.update({set_key(s): text for text, s in new})
        run(batch, "robust moves")
        after = _table(run_ids, candidates, origin, results, described)
        best = min(after, key=lambda row: _score(row, mode))
        for text, s in new:
            row = next(r for r in after if r["candidate"] == set_key(s))
            search.append({"from": current["candidate"], "move": text,
                           "candidate": row["candidate"], "stations": row["stations"],
                           "expected_cost": row["expected_cost"],
                           "max_regret": row["max_regret"],
                           "accepted": row["candidate"] == best["candidate"]})
        if best["candidate"] == current["candidate"]:
            break  # no move improves: a local optimum of these moves
    return _choose(records, order, run_ids, candidates, origin, results, where, mode, out,
                   described=described, search=search, moves=moves)


def set_key(stations: frozenset[str]) -> str:
    """A station set's id: 12 hex digits of the hash of its sorted station ids."""
    return digest(sorted(stations))[:12]


def block_moves(current: frozenset[str], plans: Sequence[frozenset[str]]
                ) -> list[tuple[str, frozenset[str]]]:
    """Moves of the local search from ``current``, guided by how many of the scenarios'
    own plans open each station (``plans``), most promising first: for ``q`` from a
    majority down to 1 and up to all, add the stations at least ``q`` plans open, or drop
    the stations of ``current`` that fewer than ``q`` plans open, or both (swap).

    >>> a, b, c = frozenset("xy"), frozenset("xz"), frozenset("xz")
    >>> ["".join(sorted(s)) for _, s in block_moves(a, [a, b, c])]
    ['xyz', 'x', 'xz']
    """
    n = len(plans)
    freq: dict[str, int] = {}
    for plan in plans:
        for s in plan:
            freq[s] = freq.get(s, 0) + 1
    majority = n // 2 + 1
    order = [majority, *range(majority + 1, n + 1), *range(majority - 1, 0, -1)]
    out: list[tuple[str, frozenset[str]]] = []
    seen = {current}
    for q in order:
        common = frozenset(s for s, c in freq.items() if c >= q)
        add = common - current
        drop = frozenset(s for s in current if freq.get(s, 0) < q)
        for text, new in (
                (f"add the {len(add)} station(s) opened in >= {q} of {n} plans", current | add),
                (f"drop the {len(drop)} station(s) opened in < {q} of {n} plans",
                 current - drop),
                (f"swap: add {len(add)}, drop {len(drop)} (the stations opened in >= {q} of "
                 f"{n} plans)", (current | add) - drop)):
            if new and new not in seen:
                seen.add(new)
                out.append((text, new))
    return out


def _cached(path: Path, ckey: str, rid: str) -> dict[str, Any] | None:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(rec, dict) and rec.get("candidate") == ckey and rec.get("run_id") == rid:
        rec["objective"] = float(rec.get("objective", math.inf))
        return rec
    return None


def _table(run_ids: Sequence[str], candidates: Mapping[str, frozenset[str]],
           origin: Mapping[str, list[str]], results: Mapping[tuple[str, str], dict],
           described: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per evaluated set: its expected cost and maximum regret over the
    scenarios (regret against the best cost known for each scenario)."""
    best = {rid: min(results[(c, rid)]["objective"] for c in candidates) for rid in run_ids}
    table = []
    for ckey, stations in candidates.items():
        costs = [results[(ckey, rid)]["objective"] for rid in run_ids]
        expected = sum(costs) / len(costs)
        regret = max(c - best[rid] for c, rid in zip(costs, run_ids, strict=True))
        table.append({"candidate": ckey, "from_runs": origin.get(ckey, []),
                      "move": described.get(ckey), "stations": len(stations),
                      "expected_cost": _out(expected), "max_regret": _out(regret),
                      "costs": {rid: _out(c) for rid, c in zip(run_ids, costs, strict=True)},
                      "fixed": all(bool(results[(ckey, rid)].get("fixed")) for rid in run_ids),
                      "diagnoses": {rid: results[(ckey, rid)].get("diagnosis", "")
                                    for rid in run_ids
                                    if results[(ckey, rid)].get("diagnosis")}})
    return table


def _score(row: Mapping[str, Any], mode: str) -> tuple[float, float, str]:
    score = "expected_cost" if mode == "expected" else "max_regret"
    return _key(row[score]), _key(row["expected_cost"]), str(row["candidate"])


def _choose(records: Sequence[Mapping[str, Any]], order: Sequence[int],
            run_ids: Sequence[str], candidates: Mapping[str, frozenset[str]],
            origin: Mapping[str, list[str]], results: Mapping[tuple[str, str], dict],
            where: Mapping[str, tuple[float, float]], mode: str, out: Path, *,
            described: Mapping[str, str], search: list[dict[str, Any]], moves: int
            ) -> dict[str, Any]:
    own = {str(records[i]["run_id"]): records[i]["kpis"]["chargers"] for i in order}
    own_cost = {rid: _num(own[rid].get("objective_cny_per_year")) for rid in run_ids}
    own_bound = {rid: _num(own[rid].get("bound_cny_per_year")) for rid in run_ids}
    table = _table(run_ids, candidates, origin, results, described)
    chosen = min(table, key=lambda row: _score(row, mode))
    stations = candidates[chosen["candidate"]]
    bounds = [own_bound[rid] for rid in run_ids]
    ws = sum(bounds) / len(bounds) if all(math.isfinite(b) for b in bounds) else None
    expected = chosen["expected_cost"]
    gap = (expected - ws) / expected if ws is not None and expected not in (None, 0) \
        else None
    per_scenario = []
    for i, rid in zip(order, run_ids, strict=True):
        cost = results[(chosen["candidate"], rid)]["objective"]
        per_scenario.append({
            "run_id": rid, "varied": records[i].get("point", {}), "robust_cost": _out(cost),
            "own_cost": _out(own_cost[rid]), "own_bound": _out(own_bound[rid]),
            "extra_cost": _out(cost - own_cost[rid]),
            "extra_share": round((cost - own_cost[rid]) / own_cost[rid], 6)
            if own_cost[rid] and math.isfinite(cost - own_cost[rid]) else None,
            "piles_total": results[(chosen["candidate"], rid)].get("piles_total"),
            "status": results[(chosen["candidate"], rid)].get("status")})
    excluded = [str(r["run_id"]) for r in records if str(r["run_id"]) not in own]
    method = METHOD if moves == 0 else METHOD.replace(
        "no local search", f"local search: block add/drop/swap moves by how many scenario "
        f"plans open each station, at most {moves} move set(s), {len(search)} evaluated")
    record = {
        "method": method,
        "objective": mode,
        "claim": "a heuristic choice, not proven optimal; the gap is measured against the "
                 "wait-and-see bound",
        "units": "CNY per year (the charger model's objective)",
        "scenarios": list(run_ids),
        "excluded_runs": excluded,
        "chosen_candidate": chosen["candidate"],
        "chosen_from_runs": chosen["from_runs"],
        "chosen_move": chosen["move"],
        "stations": [{"id": s, "lon": where.get(s, (None, None))[0],
                      "lat": where.get(s, (None, None))[1]} for s in sorted(stations)],
        "n_stations": len(stations),
        "expected_cost": expected,
        "max_regret": chosen["max_regret"],
        "lower_bound": _out(ws) if ws is not None else None,
        "lower_bound_kind": "wait-and-see: mean of each scenario's own MIP bound",
        "gap": round(gap, 6) if gap is not None else None,
        "fixed_everywhere": chosen["fixed"],
        "per_scenario": per_scenario,
        "candidates": table,
        "local_search": search,
    }
    write_json(out / "robust.json", record)
    return record


def _num(value: Any) -> float:
    try:
        return float(value) if value is not None else math.inf
    except (TypeError, ValueError):
        return math.inf


def _out(value: float) -> float | None:
    """JSON-safe: ``None`` for an infinite cost (a set that cannot serve a scenario)."""
    return None if value is None or not math.isfinite(value) else round(float(value), 1)


def _key(value: float | None) -> float:
    return math.inf if value is None else value
