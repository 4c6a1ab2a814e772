"""Vendored JavaScript and CSS that make every map work with no network.

Leaflet and its plugins come from the npm registry at the exact versions (and
integrity hashes) pinned in ``package.json`` / ``package-lock.json`` beside this file.
:func:`update` re-vendors them (``npm ci --ignore-scripts`` in a scratch folder), copies
the few distribution files the maps use into ``vendor/``, inlines every image their
CSS references as a ``data:`` URI, and writes ``MANIFEST.json`` with the SHA-256 of
each vendored file. :func:`verify` checks the files against that manifest, and
:func:`inline_bundle` returns the CSS and JavaScript a page inlines.

Run ``python -m siting.assets update`` after changing a version in ``package.json``
(it needs ``npm`` and the registry), and ``python -m siting.assets verify`` to check.

Our own map code (``map.js``, ``map.css``) lives beside this file, not in ``vendor/``.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from siting.errors import InputError, SitingError
from siting.io import atomic_path, file_sha256

logger = logging.getLogger(__name__)

ASSET_DIR = Path(__file__).resolve().parent
VENDOR_DIR = ASSET_DIR / "vendor"
MANIFEST_PATH = ASSET_DIR / "MANIFEST.json"
APP_FILES = ("map.css", "map.js")

__all__ = ["APP_FILES", "VENDOR_FILES", "VendorFile", "inline_bundle", "load_manifest",
           "update", "verify"]


@dataclass(frozen=True)
class VendorFile:
    """One file taken from an npm package into ``vendor/<package>/<name>``."""

    package: str
    source: str
    kind: Literal["js", "css", "license"]

    @property
    def dest(self) -> str:
        return f"vendor/{self.package}/{Path(self.source).name}"


# Load order matters: Leaflet first, then the plugins that extend it.
VENDOR_FILES: tuple[VendorFile, ...] = (
    VendorFile("leaflet", "dist/leaflet.js", "js"),
    VendorFile("leaflet", "dist/leaflet.css", "css"),
    VendorFile("leaflet", "LICENSE", "license"),
    VendorFile("leaflet.markercluster", "dist/leaflet.markercluster.js", "js"),
    VendorFile("leaflet.markercluster", "dist/MarkerCluster.css", "css"),
    VendorFile("leaflet.markercluster", "dist/MarkerCluster.Default.css", "css"),
    VendorFile("leaflet.markercluster", "MIT-LICENCE.txt", "license"),
    VendorFile("leaflet.heat", "dist/leaflet-heat.js", "js"),
    VendorFile("leaflet.heat", "LICENSE", "license"),
    VendorFile("leaflet.fullscreen", "dist/Control.FullScreen.umd.js", "js"),
    VendorFile("leaflet.fullscreen", "dist/Control.FullScreen.css", "css"),
    VendorFile("leaflet.fullscreen", "LICENSE.md", "license"),
    VendorFile("leaflet.polylinemeasure", "Leaflet.PolylineMeasure.js", "js"),
    VendorFile("leaflet.polylinemeasure", "Leaflet.PolylineMeasure.css", "css"),
    VendorFile("leaflet.polylinemeasure", "LICENSE.txt", "license"),
)

_CSS_URL = re.compile(r"url\(\s*(['\"]?)(?!data:|#)([^'\")]+)\1\s*\)")
_IE_BEHAVIOR = re.compile(r"^\s*behavior:\s*url\(#default#VML\);\s*$", re.MULTILINE)


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, Any]:
    """The manifest: packages (version, licence, integrity) and files (SHA-256, size)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"asset manifest {path} is missing; run `python -m siting.assets "
                         "update` to vendor the map assets") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"asset manifest {path} is not valid JSON ({exc}); run "
                         "`python -m siting.assets update`") from None
    return data


def verify(root: Path = ASSET_DIR) -> list[str]:
    """Every problem with the vendored files: missing, changed, or not in the lock file.

    Returns an empty list when each file listed in ``VENDOR_FILES`` exists, matches the
    SHA-256 recorded in ``MANIFEST.json``, and comes from the package version pinned
    in ``package-lock.json``.
    """
    problems: list[str] = []
    manifest = load_manifest(root / "MANIFEST.json")
    lock = json.loads((root / "package-lock.json").read_text(encoding="utf-8"))
    pinned = {k.removeprefix("node_modules/"): v for k, v in lock["packages"].items() if k}
    files = manifest.get("files", {})
    for vf in VENDOR_FILES:
        entry = files.get(vf.dest)
        path = root / vf.dest
        if entry is None:
            problems.append(f"{vf.dest}: not in MANIFEST.json")
            continue
        if not path.is_file():
            problems.append(f"{vf.dest}: missing")
            continue
        if file_sha256(path) != entry["sha256"]:
            problems.append(f"{vf.dest}: SHA-256 differs from MANIFEST.json (edited by hand?)")
        lock_entry = pinned.get(vf.package)
        if lock_entry is None:
            problems.append(f"{vf.dest}: package {vf.package} is not in package-lock.json")
        elif lock_entry["version"] != entry["version"]:
            problems.append(f"{vf.dest}: vendored from {vf.package}@{entry['version']} but "
                            f"package-lock.json pins {lock_entry['version']}")
    extra = set(files) - {vf.dest for vf in VENDOR_FILES}
    problems.extend(f"{name}: in MANIFEST.json but not vendored" for name in sorted(extra))
    return problems


def inline_bundle(root: Path = ASSET_DIR) -> tuple[str, str]:
    """The CSS and JavaScript a page inlines: vendored files, then ``map.css``/``map.js``.

    Each part starts with a comment naming its package, version and licence.

    Raises:
        SitingError: a vendored file is missing or differs from the manifest.
    """
    manifest = load_manifest(root / "MANIFEST.json")
    css: list[str] = []
    js: list[str] = []
    for vf in VENDOR_FILES:
        if vf.kind == "license":
            continue
        entry = manifest["files"].get(vf.dest)
        path = root / vf.dest
        if entry is None or not path.is_file():
            raise SitingError(f"map asset {vf.dest} is missing; run `python -m siting.assets "
                              "update` (or reinstall siting)")
        pkg = manifest["packages"][vf.package]
        head = (f"/*! {vf.package}@{entry['version']} ({pkg['license']}); "
                f"licence text: siting/assets/vendor/{vf.package}/ */\n")
        text = path.read_text(encoding="utf-8")
        (css if vf.kind == "css" else js).append(head + text)
    for name in APP_FILES:
        text = (root / name).read_text(encoding="utf-8")
        (css if name.endswith(".css") else js).append(f"/* siting {name} */\n" + text)
    return "\n".join(css), "\n".join(js)


def _inline_css_urls(css: str, base: Path) -> str:
    """``css`` with every relative ``url(...)`` replaced by a ``data:`` URI of that file."""
    css = _IE_BEHAVIOR.sub("", css)

    def repl(match: re.Match[str]) -> str:
        target = (base / match.group(2)).resolve()
        if not target.is_file():
            raise SitingError(f"CSS in {base} references {match.group(2)}, which the package "
                              "does not ship; the vendoring rules need updating")
        mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        data = base64.b64encode(target.read_bytes()).decode("ascii")
        return f"url(data:{mime};base64,{data})"

    return _CSS_URL.sub(repl, css)


def update(root: Path = ASSET_DIR, *, npm: str = "npm") -> Path:
    """Re-vendor every file in ``VENDOR_FILES`` from the npm registry; return the manifest.

    Installs exactly what ``package-lock.json`` pins (``npm ci --ignore-scripts``, so no
    package code runs) in a scratch folder, copies the distribution files into
    ``vendor/``, inlines CSS images and writes ``MANIFEST.json``.
    """
    if shutil.which(npm) is None:
        raise SitingError(f"`{npm}` is not on PATH; install Node.js/npm to re-vendor the "
                          "map assets")
    lock = json.loads((root / "package-lock.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="siting-assets-") as scratch:
        work = Path(scratch)
        shutil.copy2(root / "package.json", work / "package.json")
        shutil.copy2(root / "package-lock.json", work / "package-lock.json")
        logger.info("npm ci in %s", work)
        subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                       cwd=work, check=True, capture_output=True, text=True)
        modules = work / "node_modules"
        packages: dict[str, Any] = {}
        files: dict[str, Any] = {}
        shutil.rmtree(root / "vendor", ignore_errors=True)
        for vf in VENDOR_FILES:
            pkg_dir = modules / vf.package
            meta = json.loads((pkg_dir / "package.json").read_text(encoding="utf-8"))
            lock_entry = lock["packages"][f"node_modules/{vf.package}"]
            packages[vf.package] = {
                "version": meta["version"],
                "license": meta.get("license") or _licence_from_text(pkg_dir),
                "integrity": lock_entry.get("integrity"),
            }
            src = pkg_dir / vf.source
            dest = root / vf.dest
            dest.parent.mkdir(parents=True, exist_ok=True)
            transform = None
            if vf.kind == "css":
                text = _inline_css_urls(src.read_text(encoding="utf-8"), src.parent)
                transform = "relative url() images inlined as data: URIs"
                dest.write_text(text, encoding="utf-8")
            else:
                shutil.copyfile(src, dest)
            files[vf.dest] = {"package": vf.package, "version": meta["version"],
                              "source": vf.source, "sha256": file_sha256(dest),
                              "bytes": dest.stat().st_size, "transform": transform}
    manifest = {"generated_by": "python -m siting.assets update",
                "registry": "npm", "packages": packages, "files": files}
    with atomic_path(root / "MANIFEST.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    problems = verify(root)
    if problems:
        raise SitingError("vendored assets do not verify: " + "; ".join(problems))
    return root / "MANIFEST.json"


def _licence_from_text(pkg_dir: Path) -> str:
    """An SPDX id read from a package's licence file when package.json names none."""
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md", "MIT-LICENCE.txt"):
        path = pkg_dir / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            if "Redistribution and use in source and binary forms" in text:
                return "BSD-2-Clause" if "3." not in text else "BSD-3-Clause"
            if "Permission is hereby granted, free of charge" in text:
                return "MIT"
    return "see licence file"
