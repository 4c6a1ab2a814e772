"""Merging several reviewers' decisions files, with their disagreements.

Several departments review one plan (natural resources, the power grid company,
transport, housing); each downloads its own ``decisions.geojson`` from the map.
:func:`merge_decisions` reads them (:func:`siting.review.read_decisions`) and keeps,
for every item, every reviewer's decision and comment. An item approved by one
reviewer and rejected by another is a :class:`Conflict`.

The merged file (:func:`write_merged`) is a decisions file like the ones the maps
download, so ``plan --decisions merged.geojson`` reads it, plus:

* top level: ``"merged_from"`` (each source file's path, SHA-256, reviewers and plan
  id) and ``"conflicts"`` (``{"layer", "id", "approved_by", "rejected_by"}``);
* per feature: ``"reviews"`` (``{"reviewer", "decision", "comment", "timestamp",
  "source"}`` for each reviewer), ``"reviewer"`` (the names, comma-separated),
  ``"comment"`` (``"name: comment"`` joined by ``"; "``) and ``"conflict"``.

A conflicting feature has ``"conflict": true`` and ``"decision": "conflict"``;
:func:`siting.review.read_decisions` refuses such a feature (exit 2, naming it) until
the planner resolves it: set its ``decision`` to ``"approved"`` or ``"rejected"`` and
``conflict`` to ``false``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely

from siting.errors import InputError
from siting.io import atomic_path, file_sha256
from siting.review import Decision, read_decisions

logger = logging.getLogger(__name__)

__all__ = ["Conflict", "MergedDecisions", "MergedItem", "Review", "format_merge",
           "merge_decisions", "write_merged"]

#: the ``decision`` of a conflicting item in a merged file
CONFLICT = "conflict"


@dataclass(frozen=True)
class Review:
    """One reviewer's decision on one item."""

    reviewer: str
    decision: str
    comment: str
    timestamp: str
    source: str


@dataclass(frozen=True)
class MergedItem:
    """Every reviewer's decision on one item (``layer``, ``id``)."""

    layer: str
    id: str
    reviews: tuple[Review, ...]
    geometry: Any = None

    @property
    def approved_by(self) -> tuple[str, ...]:
        return tuple(r.reviewer for r in self.reviews if r.decision == "approved")

    @property
    def rejected_by(self) -> tuple[str, ...]:
        return tuple(r.reviewer for r in self.reviews if r.decision == "rejected")

    @property
    def conflict(self) -> bool:
        return bool(self.approved_by and self.rejected_by)

    @property
    def decision(self) -> str:
        """``approved``, ``rejected`` or :data:`CONFLICT`."""
        if self.conflict:
            return CONFLICT
        return "approved" if self.approved_by else "rejected"


@dataclass(frozen=True)
class Conflict:
    """An item approved by some reviewers and rejected by others."""

    layer: str
    id: str
    approved_by: tuple[str, ...]
    rejected_by: tuple[str, ...]

    def __str__(self) -> str:
        return (f"{self.layer} {self.id}: approved by {', '.join(self.approved_by)}; "
                f"rejected by {', '.join(self.rejected_by)}")


@dataclass(frozen=True)
class MergedDecisions:
    """The result of :func:`merge_decisions`: items in first-seen order, and conflicts."""

    items: tuple[MergedItem, ...]
    sources: tuple[dict[str, Any], ...]
    plan: str | None = None

    @property
    def conflicts(self) -> tuple[Conflict, ...]:
        return tuple(Conflict(i.layer, i.id, i.approved_by, i.rejected_by)
                     for i in self.items if i.conflict)


def _reviewer_names(files: Sequence[tuple[Path, Sequence[Decision]]]) -> list[dict[str, str]]:
    """Per file, decision index -> reviewer name: the ``reviewer`` field, else the
    file's stem; a name used in two files gets the file's stem appended."""
    owner: dict[str, Path] = {}
    out = []
    for path, decisions in files:
        names = {}
        for d in decisions:
            name = d.reviewer.strip() or path.stem
            if owner.setdefault(name, path) != path:
                name = f"{name} ({path.name})"
            names[f"{d.layer}\x00{d.id}"] = name
        out.append(names)
    return out


def merge_decisions(paths: Sequence[str | Path]) -> MergedDecisions:
    """Combine the decisions files ``paths`` (one per reviewer or department).

    Reviewers are named by each decision's ``reviewer`` field, or else by their
    file's name. Every problem in every file is reported at once.

    Raises:
        InputError: no files, a file given twice, or any invalid file (including a
            merged file whose conflicts are unresolved).
    """
    files = [Path(p) for p in paths]
    if not files:
        raise InputError("decisions merge: give at least one decisions file")
    seen: set[Path] = set()
    problems: list[str] = []
    read: list[tuple[Path, Any]] = []
    for p in files:
        key = p.resolve()
        if key in seen:
            problems.append(f"{p}: given twice")
            continue
        seen.add(key)
        try:
            read.append((p, read_decisions(p)))
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        raise InputError.collect(problems, context="decisions merge")
    names = _reviewer_names([(p, d.items) for p, d in read])
    items: dict[tuple[str, str], MergedItem] = {}
    sources = []
    for (path, decisions), who in zip(read, names, strict=True):
        sources.append({"path": str(path), "sha256": file_sha256(path),
                        "plan": decisions.plan, "decisions": len(decisions.items),
                        "reviewers": sorted(set(who.values()))})
        for d in decisions.items:
            review = Review(reviewer=who[f"{d.layer}\x00{d.id}"], decision=d.decision,
                            comment=d.comment, timestamp=d.timestamp, source=path.name)
            old = items.get((d.layer, d.id))
            items[(d.layer, d.id)] = MergedItem(
                layer=d.layer, id=d.id, reviews=(*old.reviews, review) if old else (review,),
                geometry=old.geometry if old is not None and old.geometry is not None
                else d.geometry)
    plans = {s["plan"] for s in sources if s["plan"]}
    if len(plans) > 1:
        logger.warning("decisions files were made for different plans (%s); merging by item "
                       "id", ", ".join(sorted(plans)))
    merged = MergedDecisions(items=tuple(items.values()), sources=tuple(sources),
                             plan=plans.pop() if len(plans) == 1 else None)
    logger.info("merged %d decisions files: %d items, %d conflicts", len(files),
                len(merged.items), len(merged.conflicts))
    return merged


def write_merged(path: str | Path, merged: MergedDecisions) -> Path:
    """Write ``merged`` as a decisions file (atomically); conflicts are marked."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    feats = []
    for item in merged.items:
        feats.append({
            "type": "Feature",
            "geometry": shapely.geometry.mapping(item.geometry) if item.geometry is not None
            else None,
            "properties": {
                "layer": item.layer, "id": item.id, "decision": item.decision,
                "conflict": item.conflict,
                "approved_by": list(item.approved_by), "rejected_by": list(item.rejected_by),
                "reviewer": ", ".join(dict.fromkeys(r.reviewer for r in item.reviews)),
                "comment": "; ".join(f"{r.reviewer}: {r.comment}" for r in item.reviews
                                     if r.comment),
                "timestamp": max((r.timestamp for r in item.reviews), default="") or now,
                "plan": merged.plan,
                "reviews": [{"reviewer": r.reviewer, "decision": r.decision,
                             "comment": r.comment, "timestamp": r.timestamp,
                             "source": r.source} for r in item.reviews]}})
    doc = {"type": "FeatureCollection", "siting_decisions": 1, "plan": merged.plan,
           "created": now, "merged_from": list(merged.sources),
           "conflicts": [{"layer": c.layer, "id": c.id, "approved_by": list(c.approved_by),
                          "rejected_by": list(c.rejected_by)} for c in merged.conflicts],
           "features": feats}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return Path(path)


def format_merge(merged: MergedDecisions) -> str:
    """A short text summary: counts, then each conflict by layer and id."""
    reviewers = sorted({n for s in merged.sources for n in s["reviewers"]})
    lines = [f"Merged {len(merged.sources)} decisions files ({', '.join(reviewers)}): "
             f"{len(merged.items)} items, {len(merged.conflicts)} conflicts"]
    if merged.conflicts:
        lines.append("Conflicts (resolve each in the merged file: set \"decision\" to "
                     "\"approved\" or \"rejected\" and \"conflict\" to false):")
        lines.extend(f"  - {c}" for c in merged.conflicts)
    return "\n".join(lines)
