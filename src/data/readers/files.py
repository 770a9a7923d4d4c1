"""Finding a data file: one clear line saying why a path cannot be read, and the plain or
``.gz`` copy of a file (both present with different content is refused, not guessed)."""

from __future__ import annotations

import errno
import gzip
import os
import stat
import zlib
from pathlib import Path

from src.errors import TextlabError


def path_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as a data file ("not found", a folder, a link that loops or
    points nowhere, a device...), or None when it is a regular file."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "is a symbolic link that loops (it leads back to itself); point it at the file"
        if os.path.islink(path):
            return f"is a symbolic link to {os.readlink(path)}, which does not exist"
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return "not found"
        return f"cannot be read ({err.strerror})"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a device, pipe or socket)"
    return None


def _same_content(plain: Path, gz: Path, chunk: int = 1 << 20) -> bool:
    """Whether ``gz`` decompresses to exactly the bytes of ``plain`` (stops at the first
    difference)."""
    try:
        with plain.open("rb") as a, gzip.open(gz, "rb") as b:
            while True:
                left, right = a.read(chunk), b.read(chunk)
                if left != right:
                    return False
                if not left:
                    return True
    except (OSError, EOFError, zlib.error):
        return False


_PAIRS_CHECKED: dict[tuple, bool] = {}


def _check_pair(plain: Path, gz: Path, fix: str) -> None:
    """``x.csv`` and ``x.csv.gz`` side by side must hold the same rows, else which one a run
    reads is a silent guess."""
    key = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in (plain, gz))
    if key not in _PAIRS_CHECKED:
        _PAIRS_CHECKED[key] = _same_content(plain, gz)
    if not _PAIRS_CHECKED[key]:
        raise TextlabError(
            f"{plain.parent} holds both {plain.name} and {gz.name}, with different content; "
            f"remove or rename the one you do not mean to use ({fix})."
        )


def locate_data_file(data_dir: str | Path, name: str, what: str, fix: str) -> Path:
    """``name`` in ``data_dir``, else ``name.gz``; one line saying what is wrong otherwise
    (``fix``: what to do). Both present with different content is refused."""
    folder = Path(data_dir).expanduser()
    candidates = [folder / name]
    looked = name
    if not name.endswith(".gz"):
        candidates.append(folder / f"{name}.gz")
        looked = f"{name}(.gz)"
    problems = {path: path_problem(path) for path in candidates}
    files = [path for path, problem in problems.items() if problem is None]
    if len(files) == 2:
        _check_pair(files[0], files[1], fix)
    if files:
        return files[0]
    if not folder.is_dir():
        problem = path_problem(folder) or "is not a folder"
        where = f"folder {folder} " + ("does not exist" if problem == "not found" else problem)
        raise TextlabError(f"{what} {looked}: {where}. {fix}")
    found = [(path, problem) for path, problem in problems.items() if problem != "not found"]
    if found:
        path, problem = found[0]
        raise TextlabError(f"{what} {path} {problem}. {fix}")
    raise TextlabError(f"{what} {looked} not found in {folder}. {fix}")
