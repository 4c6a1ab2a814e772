"""Generated bad input through the real CLI (``siting.cli.main``, in-process).

Each case mutates a valid run of ``chargers`` on a small real OSM region (West Oakland,
``../shared/data/osm/West-Oakland.osm.bz2``, with a scenario ``init`` scaled to it) in
one to three ways, drawn at random from broad generators:

- the scenario TOML: a value replaced (NaN, infinity, huge, negative, zero, wrong
  type, an array or table), a line dropped, a key misspelt, bytes that are not UTF-8;
- a user layer (``--layer NAME=FILE``, NAME among the known layers or not): GeoJSON
  with random geometries (points, broken rings, NaN or huge coordinates, empty),
  columns and CRS, or a file that is not GeoJSON;
- a decisions file: random layers, ids, decisions and document shapes;
- the options: a time limit of 0 or less, a missing file, ``--population-total`` of 0.

The rule for every case: the exit code is 0, 2, 3 or 4, never 1, no traceback is
printed, and the output folder is either unchanged (the previous good run, byte for
byte) or complete (plan.gpkg, plan.html, kpis.json, provenance.json).

    python bench/fuzz.py --cases 1000 --seed 1
    python bench/fuzz.py --cases 1000 --results bench/RESULTS.md

Prints the cases by exit code, the crashes with their inputs, and the time per case.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from siting.cli import main  # noqa: E402
from siting.config import DEFAULT_SCENARIO  # noqa: E402
from siting.pipeline import USER_LAYERS  # noqa: E402
from siting.scenario_init import scaled_scenario_text  # noqa: E402

OSM = REPO.parent / "shared" / "data" / "osm" / "West-Oakland.osm.bz2"
POPULATION = 3000
OUTPUTS = ("plan.gpkg", "plan.html", "kpis.json", "provenance.json")
BAD_VALUES = ("nan", "inf", "-inf", "-1", "0", "1e308", "-1e308", "1e-320",
              "99999999999999999999", '"text"', "true", "[]", "[1, 2]", "{}", "{ a = 1 }",
              '""', "2021-12-01", "-0.0", '"EPSG:4326"', "0.5", "3")


def base_scenario() -> str:
    text = scaled_scenario_text(DEFAULT_SCENARIO.read_text(encoding="utf-8"),
                                population=POPULATION, name="West Oakland",
                                crs="EPSG:32610", base_population=4_704_138)
    # a quick case: one stage, a short time limit, no fleets
    for old, new in (("staged = true", "staged = false"), ("time_limit_s = 60.0",
                                                           "time_limit_s = 10.0")):
        text = text.replace(old, new, 1)
    lines = [ln for ln in text.splitlines()
             if not ln.startswith(("buses =", "taxis ="))]
    return "\n".join(lines) + "\n"


def mutate_scenario(text: str, rng: np.random.Generator) -> bytes:
    lines = text.splitlines()
    assign = [i for i, ln in enumerate(lines) if "=" in ln and not ln.lstrip().startswith("#")]
    i = int(rng.choice(assign))
    kind = rng.integers(6)
    if kind >= 4:  # mild: a number scaled far, same type (reaches the planners)
        import re

        nums = [j for j in assign if re.match(r"^[A-Za-z0-9_]+\s*=\s*-?[0-9][0-9_.eE+-]*\s*(#|$)",
                                              lines[j])]
        if nums:
            j = int(rng.choice(nums))
            key, rest = lines[j].split("=", 1)
            value = rest.split("#", 1)[0].strip()
            factor = float(rng.choice([0.0, 0.001, 0.3, 2.0, 50.0, 1e4]))
            new = (str(int(float(value) * factor)) if re.fullmatch(r"-?[0-9_]+", value)
                   else repr(float(value) * factor))
            lines[j] = f"{key.rstrip()} = {new}"
    elif kind == 0:
        key = lines[i].split("=", 1)[0].rstrip()
        lines[i] = f"{key} = {rng.choice(BAD_VALUES)}"
    elif kind == 1:
        del lines[i]
    elif kind == 2:
        key, rest = lines[i].split("=", 1)
        lines[i] = f"{key.rstrip()}{rng.choice(['x', '_', 's', '2'])} ={rest}"
    else:
        lines.insert(i, "[" + "".join(rng.choice(list("abc.[]= "), size=4)) + "]")
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if rng.random() < 0.1:
        data += bytes(rng.integers(128, 256, size=3).astype(np.uint8))
    return data


def random_geometry(rng: np.random.Generator) -> dict | None:
    lon, lat = -122.29 + rng.normal(0, 0.01), 37.81 + rng.normal(0, 0.01)
    pick = rng.integers(9)
    if pick == 0:
        return None
    if pick == 1:
        return {"type": "Point", "coordinates": [float("nan"), lat]}
    if pick == 2:
        return {"type": "Point", "coordinates": [lon * 1e6, lat]}
    if pick == 3:
        return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + 0.01, lat + 0.01]]]}
    if pick == 4:
        return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + .01, lat + .01],
                                                    [lon + .01, lat], [lon, lat + .01],
                                                    [lon, lat]]]}
    if pick == 5:
        return {"type": "LineString", "coordinates": [[lon, lat], [lon, lat]]}
    if pick == 6:
        return {"type": "Point", "coordinates": []}
    d = 0.002
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d],
                                                [lon, lat + d], [lon, lat]]]} \
        if pick == 7 else {"type": "Point", "coordinates": [lon, lat]}


def random_layer(rng: np.random.Generator) -> bytes:
    if rng.random() < 0.4:  # well formed points and squares in the region
        feats = []
        for _ in range(int(rng.integers(1, 6))):
            lon, lat = -122.29 + rng.normal(0, 0.01), 37.81 + rng.normal(0, 0.01)
            d = 0.002
            geom = ({"type": "Point", "coordinates": [lon, lat]} if rng.random() < 0.5 else
                    {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat],
                                                         [lon + d, lat + d], [lon, lat + d],
                                                         [lon, lat]]]})
            feats.append({"type": "Feature", "geometry": geom, "properties": {
                "name": "ok", "site_type": "mall", "max_piles": 10, "output_mw": 50.0,
                "kind": "power", "freight": True, "land_use": "residential"}})
        return json.dumps({"type": "FeatureCollection", "features": feats}).encode("utf-8")
    if rng.random() < 0.08:
        return bytes(rng.integers(0, 256, size=40).astype(np.uint8))
    props = [{"site_type": str(rng.choice(["mall", "bogus", "", "fuel_station"])),
              "max_piles": [5, -1, 0, 1e9, None, "many"][int(rng.integers(6))],
              "output_mw": float(rng.choice([10.0, -5.0, np.nan])), "name": "x"}
             for _ in range(int(rng.integers(0, 5)))]
    doc: dict = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": p, "geometry": random_geometry(rng)} for p in props]}
    crs = rng.choice([None, "EPSG:4326", "EPSG:32610", "EPSG:3857", "nonsense"])
    if crs is not None:
        doc["crs"] = {"type": "name", "properties": {"name": str(crs)}}
    return json.dumps(doc, allow_nan=True).encode("utf-8")


def random_decisions(rng: np.random.Generator) -> bytes:
    if rng.random() < 0.5:  # well formed, ids that may or may not exist
        feats = [{"type": "Feature", "geometry": None, "properties": {
            "layer": "charging_stations", "id": f"chg-osm-node-{int(rng.integers(1e9))}",
            "decision": str(rng.choice(["approved", "rejected"])), "reviewer": "fuzz"}}
            for _ in range(int(rng.integers(1, 3)))]
        return json.dumps({"type": "FeatureCollection", "siting_decisions": 1,
                           "features": feats}).encode("utf-8")
    feats = [{"type": "Feature", "geometry": None, "properties": {
        "layer": str(rng.choice(["charging_stations", "logistics_parks", "roads", ""])),
        "id": str(rng.choice(["chg-osm-node-1", "chg-user-0", "x", ""])),
        "decision": str(rng.choice(["approved", "rejected", "maybe"])),
        "reviewer": "fuzz"}} for _ in range(int(rng.integers(0, 4)))]
    top = rng.choice(["FeatureCollection", "Feature", "Nonsense"])
    doc = {"type": str(top), "siting_decisions": 1, "features": feats}
    return json.dumps(doc).encode("utf-8")


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.glob("*")) if p.is_file() and not p.name.startswith(".")}


def run_case(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(args)
        except SystemExit as exc:  # argparse usage errors exit 2
            code = int(exc.code or 0)
        except BaseException as exc:  # anything escaping main is a crash
            return -1, f"{type(exc).__name__}: {exc}"
    return code, err.getvalue()


def case_args(rng: np.random.Generator, work: Path, base: str, out: Path) -> list[str]:
    scenario = work / "scenario.toml"
    scenario.write_text(base, encoding="utf-8")
    args = ["chargers", "--osm", str(OSM), "--population-total", str(POPULATION),
            "--out", str(out), "--quiet", "--scenario", str(scenario)]
    for _ in range(int(rng.integers(1, 4))):
        what = rng.integers(5)
        if what == 0:
            scenario.write_bytes(mutate_scenario(base, rng))
        elif what == 1:
            name = str(rng.choice([*USER_LAYERS, "watr", "pois2", "redline"]))
            path = work / f"{name}.geojson"
            path.write_bytes(random_layer(rng))
            args += ["--layer", f"{name}={path}"]
        elif what == 2:
            path = work / "decisions.geojson"
            path.write_bytes(random_decisions(rng))
            args += ["--decisions", str(path)]
        elif what == 3:
            args += ["--time-limit", str(rng.choice(["0", "-5", "nan", "1"]))]
        else:
            args = [a if a != str(POPULATION) else str(rng.choice(["0", "-1", "nan", "1e12"]))
                    for a in args]
    return args


def main_(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--osm", type=Path, default=None)
    p.add_argument("--work", type=Path, default=Path("/tmp/siting-fuzz"))
    p.add_argument("--results", type=Path, default=None)
    a = p.parse_args(argv)
    global OSM
    OSM = a.osm or OSM
    if not OSM.exists():
        print(f"skip: {OSM} not found (../shared/data/osm beside the checkout)")
        return 0
    rng = np.random.default_rng(a.seed)
    base = base_scenario()
    work = a.work
    work.mkdir(parents=True, exist_ok=True)
    out = work / "out"
    code, err = run_case(["chargers", "--osm", str(OSM), "--population-total", str(POPULATION),
                          "--out", str(out), "--quiet", "--scenario",
                          str(_write(work / "good.toml", base))])
    if code != 0:
        print(f"the unmutated case fails (exit {code}):\n{err}")
        return 1
    good = snapshot(out)
    codes: Counter[int] = Counter()
    crashes: list[str] = []
    t0 = time.perf_counter()
    for k in range(a.cases):
        case = work / f"case{k % 4}"
        case.mkdir(exist_ok=True)
        args = case_args(rng, case, base, out)
        before = snapshot(out)
        code, err = run_case(args)
        codes[code] += 1
        after = snapshot(out)
        complete = all(name in after for name in OUTPUTS)
        bad = []
        if code not in (0, 2, 3, 4):
            bad.append(f"exit {code}")
        if "Traceback" in err:
            bad.append("traceback")
        if code != 0 and after != before:
            bad.append("output folder changed by a failed run")
        if code == 0 and not complete:
            bad.append("incomplete output folder")
        if bad:
            crashes.append(f"case {k}: {', '.join(bad)}: {' '.join(args)}\n    "
                           f"{err.strip().splitlines()[-1] if err.strip() else ''}")
        if code == 0:
            good = after
    seconds = time.perf_counter() - t0
    lines = ["| cases | exit 0 | exit 2 | exit 3 | exit 4 | crashes | s/case |",
             "|---:|---:|---:|---:|---:|---:|---:|",
             f"| {a.cases} | {codes[0]} | {codes[2]} | {codes[3]} | {codes[4]} | "
             f"{len(crashes)} | {seconds / max(a.cases, 1):.2f} |"]
    print("\n".join(lines))
    for c in crashes[:20]:
        print(c)
    del good
    if a.results is not None:
        from _results import write_section

        body = ("## Generated bad input through the CLI (`bench/fuzz.py`)\n\n"
                f"`python bench/fuzz.py --cases {a.cases} --seed {a.seed}` "
                f"(chargers on West Oakland, in-process):\n\n" + "\n".join(lines))
        write_section(a.results, "fuzz", body)
    return 1 if crashes else 0


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


if __name__ == "__main__":
    sys.exit(main_())
