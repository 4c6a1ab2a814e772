"""Atomic writes, content hashes and the on-disk cache.

Every file the toolkit writes goes through :func:`atomic_path` or :func:`atomic_dir`,
so a failed run leaves no half-written files and never replaces a good previous
result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from siting.errors import InputError

logger = logging.getLogger(__name__)

CACHE_ENV = "SITING_CACHE_DIR"


#: environment variable bounding each cache folder, in MB (default :data:`CACHE_MAX_MB`)
CACHE_MAX_ENV = "SITING_CACHE_MAX_MB"
CACHE_MAX_MB = 2048.0


def prune_cache(folder: Path, *, max_mb: float | None = None) -> list[Path]:
    """Remove the least recently used files of ``folder`` until it holds at most
    ``max_mb`` (``$SITING_CACHE_MAX_MB``, else :data:`CACHE_MAX_MB`). Readers touch a
    file on each hit, so "used" means read or written. Returns the files removed."""
    if max_mb is None:
        try:
            max_mb = float(os.environ.get(CACHE_MAX_ENV, CACHE_MAX_MB))
        except ValueError:
            max_mb = CACHE_MAX_MB
    files = [p for p in folder.glob("*") if p.is_file() and not p.name.startswith(".")]
    stats = sorted(((p.stat().st_mtime, p.stat().st_size, p) for p in files),
                   key=lambda t: (t[0], t[2].name))
    total = sum(size for _, size, _ in stats)
    removed = []
    limit = max(max_mb, 0.0) * 2**20
    for _, size, path in stats:
        if total <= limit:
            break
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
        total -= size
    if removed:
        logger.info("cache %s: removed %d least recently used file(s) to stay under %.0f MB",
                    folder, len(removed), max_mb)
    return removed


#: set to 1 to compute everything afresh (``--no-cache``)
NO_CACHE_ENV = "SITING_NO_CACHE"


def cache_enabled() -> bool:
    """False when ``$SITING_NO_CACHE`` is set (``--no-cache``): nothing is read or written."""
    return os.environ.get(NO_CACHE_ENV, "") in ("", "0")


def clear_cache() -> tuple[int, int]:
    """Remove everything in :func:`cache_dir`; returns (files, bytes) removed."""
    root = cache_dir()
    files = [p for p in root.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    for child in root.iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                child.unlink()
    return len(files), size


def cache_dir() -> Path:
    """The cache folder: ``$SITING_CACHE_DIR``, else ``~/.cache/siting``."""
    root = os.environ.get(CACHE_ENV)
    path = Path(root) if root else Path.home() / ".cache" / "siting"
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_sha256(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def digest(*parts: Any) -> str:
    """A stable hex key for a tuple of JSON-able values and byte strings."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, bytes | bytearray | memoryview):
            h.update(bytes(part))
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.unlink(tmp)  # let writers that refuse existing files (GDAL) create it
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            if tmp_path.is_dir():
                shutil.rmtree(tmp_path)
            else:
                tmp_path.unlink()
        raise


#: the file in an output folder that lists which run wrote which of its files
MANIFEST = ".siting-outputs.json"
#: kinds of run that own their folder: a new one retires every earlier run's files
OWNING_KINDS = frozenset({"plan", "region"})
#: staging folders of dead processes older than this are removed (names without a pid)
STALE_STAGING_S = 3600.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def clear_stale_staging(target: Path) -> list[Path]:
    """Remove ``.staging.*`` folders that a killed run left in ``target``: those named
    after a process that is gone, and unnamed ones older than :data:`STALE_STAGING_S`."""
    import time

    removed = []
    for path in target.glob(".staging.*"):
        if not path.is_dir():
            continue
        parts = path.name.split(".")
        pid = int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else None
        stale = (not _alive(pid)) if pid is not None else \
            time.time() - path.stat().st_mtime > STALE_STAGING_S
        if stale and pid != os.getpid():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        logger.info("removed %d staging folder(s) of killed runs in %s", len(removed), target)
    return removed


def _retire(target: Path, kind: str, written: list[str]) -> None:
    """Update ``target``'s manifest for a ``kind`` run that wrote ``written``; remove the
    files earlier runs listed that no longer belong (see :func:`atomic_dir`)."""
    path = target / MANIFEST
    runs = read_runs(target)
    owning = kind in OWNING_KINDS
    old = {f for k, files in runs.items() if (owning or k == kind) and isinstance(files, list)
           for f in files if isinstance(f, str)}
    for name in sorted(old - set(written)):
        stale = (target / name).resolve()
        if stale.parent == target.resolve() or target.resolve() in stale.parents:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                stale.unlink()
                logger.info("removed %s: written by an earlier run, not by this one", name)
    runs = {} if owning else {k: v for k, v in runs.items() if k != kind}
    runs[kind] = sorted(written)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"runs": runs}, indent=2) + "\n", encoding="utf-8")


LOCK = ".siting.lock"


def read_runs(target: Path) -> dict[str, Any]:
    """The runs ``target``'s manifest lists (kind -> files); empty when it has none."""
    try:
        runs = json.loads((target / MANIFEST).read_text(encoding="utf-8")).get("runs", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return runs if isinstance(runs, dict) else {}


def _check_owner(target: Path, kind: str) -> None:
    """A ``plan`` folder takes no ``region`` run and the other way round (exit 2)."""
    if kind not in OWNING_KINDS:
        return
    other = sorted(k for k in read_runs(target) if k in OWNING_KINDS and k != kind)
    if other:
        files = ", ".join(read_runs(target)[other[0]][:4])
        raise InputError(
            f"output folder {target} holds a {other[0]} run ({files}); a {kind} run would "
            f"mix with it. Choose another --out (e.g. {target}-{kind}), or delete the folder")


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[None]:
    """One run at a time per folder: ``.siting.lock`` holds the writer's pid; a lock of a
    process that is gone is taken over."""
    path = target / LOCK
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(path.read_text(encoding="utf-8").strip() or "0")
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                raise InputError(
                    f"output folder {target} is being written by another run (process "
                    f"{pid}); wait for it to finish or choose another --out") from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        break
    else:
        raise InputError(f"output folder {target}: cannot take its lock {path}")
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], *, kind: str | None = None) -> Iterator[Path]:
    """Yield a staging folder; on success move each file in it into ``target``.

    Files are moved one by one with :func:`os.replace` only after the whole body has
    succeeded, so a failure leaves every previous output in ``target`` as it was. The
    staging folder is named after this process, so a later run removes what a killed
    one left behind (:func:`clear_stale_staging`); ``.siting.lock`` keeps a second run
    from writing the same folder at the same time.

    With ``kind`` (``"plan"``, ``"region"``, ``"review"``, ``"diff"``), a folder never
    mixes two runs: ``target/.siting-outputs.json`` lists which run wrote which file.
    A ``plan`` or ``region`` run owns its folder: one kind never writes into the
    other's folder (:class:`~siting.errors.InputError`), and on success a run removes
    every file an earlier run listed and it did not write (an old review describes an
    old plan); a ``review`` or ``diff`` run replaces only its own kind's files. Files the
    project never wrote are never touched.
    """
    target = Path(target)
    created = not target.exists()
    if kind is not None and not created:
        _check_owner(target, kind)
    target.mkdir(parents=True, exist_ok=True)
    ok = False
    try:
        with _lock(target):
            clear_stale_staging(target)
            staging = Path(tempfile.mkdtemp(prefix=f".staging.{os.getpid()}.", dir=target))
            try:
                yield staging
                written = []
                for item in sorted(staging.rglob("*")):
                    if item.is_file():
                        dest = target / item.relative_to(staging)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(item, dest)
                        written.append(item.relative_to(staging).as_posix())
                if kind is not None:
                    _retire(target, kind, written)
                ok = True
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    finally:
        if not ok and created:  # a failed first run leaves no empty folder behind
            with contextlib.suppress(OSError):
                target.rmdir()


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n",
                       encoding="utf-8")
