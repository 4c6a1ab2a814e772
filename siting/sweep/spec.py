"""What a sweep runs: ``--vary KEY=...`` options -> the list of varied scenarios.

Three shapes of ``--vary``, on any scalar setting of the scenario (dotted keys, as
in the TOML file: ``chargers.sessions_per_nev_day``):

- ``KEY=V1,V2,...``: a list of values;
- ``KEY=START:STOP:N``: ``N`` evenly spaced values from ``START`` to ``STOP``
  (both included);
- ``KEY=LOW:HIGH`` with ``samples``: a range for a Latin hypercube sample
  (:class:`scipy.stats.qmc.LatinHypercube`, seeded).

Several ``--vary`` options form the cartesian product (lists and ``START:STOP:N``),
or the dimensions of one Latin hypercube (ranges). Every key and value is checked
against the scenario model before anything runs; all problems are reported at once
(:class:`~siting.errors.InputError`, exit code 2).

Example:
    >>> from siting.config import load_scenario
    >>> s = load_scenario()
    >>> runs = sweep_points(["chargers.station_capex_cny=2e5,6e5",
    ...                      "solver.mip_gap=0.01:0.05:2"], s)
    >>> [tuple(r.values()) for r in runs]
    [(200000.0, 0.01), (200000.0, 0.05), (600000.0, 0.01), (600000.0, 0.05)]
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from siting.config import Scenario
from siting.errors import ConfigError, InputError

__all__ = ["VaryOption", "parse_vary", "scalar_keys", "sweep_points", "varied_scenario"]

#: the most runs one sweep may hold (a typo like ``0:1:1000000`` is refused)
MAX_RUNS = 10_000


@dataclass(frozen=True)
class VaryOption:
    """One ``--vary`` option, parsed: the key and either its values or its range."""

    key: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None

    @property
    def is_range(self) -> bool:
        return self.low is not None


def scalar_keys(scenario: Scenario) -> dict[str, Any]:
    """Every scalar setting of ``scenario`` by dotted key, with its current value
    (lists, tables and unset optional values are left out: they cannot be swept)."""
    out: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, Mapping):
                walk(value, dotted + ".")
            elif isinstance(value, bool | int | float | str):
                out[dotted] = value

    walk(scenario.model_dump(), "")
    return out


def _all_keys(scenario: Scenario) -> set[str]:
    out: set[str] = set()

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            out.add(f"{prefix}{key}")
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}.")

    walk(scenario.model_dump(), "")
    return out


def _convert(text: str, current: Any, *, key: str) -> Any:
    """``text`` as a value of the same type as ``current`` (the scenario's value)."""
    text = text.strip()
    if isinstance(current, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"{text!r} is not true or false")
    if isinstance(current, int | float):
        try:
            float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number ({key} is a number)") from None
    if isinstance(current, int):
        number = float(text)
        if not number.is_integer():
            raise ValueError(f"{text!r} is not a whole number ({key} is an integer)")
        return int(number)
    if isinstance(current, float):
        value = float(text)
        if not np.isfinite(value):
            raise ValueError(f"{text!r} is not a finite number")
        return value
    return text


def parse_vary(items: Sequence[str], scenario: Scenario, *,
               ranges: bool = False) -> list[VaryOption]:
    """Parse ``--vary`` options against ``scenario``; every problem in one error.

    ``ranges``: the options are ``KEY=LOW:HIGH`` ranges for a Latin hypercube
    (``--samples``); otherwise lists or ``START:STOP:N``.

    Raises:
        InputError: an unknown key (with the closest known keys), a key that is not
            a single value, a malformed value, or a value the scenario refuses.
    """
    known = scalar_keys(scenario)
    every = _all_keys(scenario)
    problems: list[str] = []
    options: list[VaryOption] = []
    seen: set[str] = set()
    for item in items:
        key, sep, spec = item.partition("=")
        key, spec = key.strip(), spec.strip()
        if not sep or not key or not spec:
            problems.append(f"--vary {item!r}: expected KEY=V1,V2,... or KEY=START:STOP:N "
                            f"(e.g. --vary chargers.sessions_per_nev_day=0.2,0.3)")
            continue
        if key not in known:
            if key in every:
                problems.append(f"--vary {key}: is a table or list, not a single value; vary "
                                f"one of its settings (e.g. {_child_example(key, known)})")
            else:
                close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.5)
                hint = (f"; did you mean {', '.join(repr(c) for c in close)}?" if close else
                        "; settings are dotted keys of the scenario file, e.g. "
                        "chargers.sessions_per_nev_day")
                problems.append(f"--vary {key}: the scenario has no setting {key!r}{hint}")
            continue
        if key in seen:
            problems.append(f"--vary {key}: given twice; give each key once")
            continue
        seen.add(key)
        current = known[key]
        try:
            option = _parse_values(key, spec, current, ranges=ranges)
        except ValueError as exc:
            problems.append(f"--vary {key}={spec}: {exc}")
            continue
        problems.extend(_check_values(scenario, option))
        options.append(option)
    if not items:
        problems.append("no --vary option: give at least one, e.g. "
                        "--vary chargers.sessions_per_nev_day=0.2,0.3")
    if problems:
        raise InputError.collect(problems, context="sweep options")
    return options


def _child_example(key: str, known: Mapping[str, Any]) -> str:
    child = next((k for k in known if k.startswith(key + ".")), None)
    return child or "chargers.sessions_per_nev_day"


def _parse_values(key: str, spec: str, current: Any, *, ranges: bool) -> VaryOption:
    numeric = isinstance(current, int | float) and not isinstance(current, bool)
    parts = spec.split(":")
    if ranges:
        if len(parts) != 2 or not numeric:
            raise ValueError("with --samples every --vary is a numeric range LOW:HIGH "
                             f"({key} is {type(current).__name__})")
        low, high = (float(p) for p in parts)
        if not (np.isfinite(low) and np.isfinite(high)) or low >= high:
            raise ValueError(f"LOW must be below HIGH (got {low:g}:{high:g})")
        return VaryOption(key, low=low, high=high)
    if len(parts) == 3 and numeric:
        start, stop = float(parts[0]), float(parts[1])
        try:
            n = int(parts[2])
        except ValueError:
            raise ValueError(f"N in START:STOP:N must be a whole number (got {parts[2]!r})"
                             ) from None
        if n < 1 or n > MAX_RUNS:
            raise ValueError(f"N must be between 1 and {MAX_RUNS:,} (got {n})")
        grid = np.linspace(start, stop, n)
        if isinstance(current, int):
            if not np.allclose(grid, np.round(grid)):
                raise ValueError(f"{key} is an integer but {spec} gives fractions; choose "
                                 f"START, STOP and N that give whole numbers")
            return VaryOption(key, values=tuple(round(v) for v in grid))
        return VaryOption(key, values=tuple(float(v) for v in grid))
    if len(parts) == 2:
        raise ValueError("LOW:HIGH is a range for --samples N (Latin hypercube); for a grid "
                         "give START:STOP:N or a list V1,V2,...")
    if len(parts) > 1 and numeric:
        raise ValueError("expected START:STOP:N or a list V1,V2,...")
    texts = [t for t in spec.split(",")]
    if any(not t.strip() for t in texts):
        raise ValueError("an empty value in the list")
    values = tuple(_convert(t, current, key=key) for t in texts)
    if len(set(values)) != len(values):
        raise ValueError("a value is listed twice")
    return VaryOption(key, values=values)


def _check_values(scenario: Scenario, option: VaryOption) -> list[str]:
    """Each value (or both ends of a range) against the scenario's own validation."""
    tests = option.values if not option.is_range else (option.low, option.high)
    current = scalar_keys(scenario)[option.key]
    problems = []
    for value in tests:
        if option.is_range and isinstance(current, int):
            value = round(float(value))  # type: ignore[arg-type]
        try:
            scenario.replace(**{option.key: value})
        except ConfigError as exc:
            reason = str(exc).split("\n", 1)[-1].strip().lstrip("- ")
            problems.append(f"--vary {option.key}={value!r}: the scenario refuses it: "
                            f"{reason}")
    return problems


def sweep_points(items: Sequence[str], scenario: Scenario, *, samples: int | None = None,
                 seed: int = 0) -> list[dict[str, Any]]:
    """The varied values of every run: one ``{key: value}`` per run, in a stable order.

    Lists and ``START:STOP:N`` give the cartesian product; with ``samples`` the
    ``LOW:HIGH`` ranges are sampled by a Latin hypercube with ``seed`` (integer
    settings are rounded). Every combination is validated against the scenario.

    Raises:
        InputError: see :func:`parse_vary`; a sweep of more than :data:`MAX_RUNS`
            runs; a combination the scenario refuses (e.g. ``nev_2030 < nev_2025``).
    """
    if samples is not None and samples < 1:
        raise InputError(f"--samples {samples}: give a positive number of samples")
    options = parse_vary(items, scenario, ranges=samples is not None)
    if samples is not None:
        from scipy.stats import qmc

        current = scalar_keys(scenario)
        unit = qmc.LatinHypercube(d=len(options), seed=seed).random(samples)
        points = []
        for row in unit:
            point: dict[str, Any] = {}
            for opt, u in zip(options, row, strict=True):
                assert opt.low is not None and opt.high is not None
                value = opt.low + float(u) * (opt.high - opt.low)
                point[opt.key] = (round(value) if isinstance(current[opt.key], int)
                                  else value)
            points.append(point)
    else:
        total = int(np.prod([len(o.values) for o in options]))
        if total > MAX_RUNS:
            raise InputError(f"--vary: {total:,} runs; a sweep holds at most {MAX_RUNS:,}")
        points = [dict(zip([o.key for o in options], combo, strict=True))
                  for combo in itertools.product(*(o.values for o in options))]
    problems = []
    for point in points:
        try:
            varied_scenario(scenario, point)
        except ConfigError as exc:
            reason = str(exc).split("\n", 1)[-1].strip().lstrip("- ")
            shown = ", ".join(f"{k}={v!r}" for k, v in point.items())
            problems.append(f"{shown}: {reason}")
    if problems:
        raise InputError.collect(problems[:20], context="--vary: the scenario refuses "
                                 "these combinations; narrow the values")
    return points


def varied_scenario(scenario: Scenario, point: Mapping[str, Any]) -> Scenario:
    """``scenario`` with the varied values of one run applied (re-validated)."""
    return scenario.replace(**dict(point))
