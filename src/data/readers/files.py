"""Finding and reading a data file: one clear line saying why a path cannot be read, the plain
or ``.gz`` copy of a file (both present with different content is refused, not guessed), and
its bytes read with bounds, so a hostile or broken file (a gz bomb, one 200 MB line, NUL bytes)
stops in a second instead of filling the memory.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from src.errors import TextlabError, shorten

#: the most bytes a data file may hold once decompressed, in MiB (``TEXTLAB_MAX_DATA_MB``)
DEFAULT_MAX_DATA_MB = 1024
#: the longest line a data file may hold: thousands of times any text a model reads
MAX_LINE_BYTES = 1 << 20
#: bytes read at a time; no larger than MAX_LINE_BYTES, so only a line running across chunks
#: can be too long
CHUNK_BYTES = 1 << 20
#: compressions read as streams (any other compressed file is refused)
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zip")
UNREAD_COMPRESSIONS = (".zst", ".tar", ".tgz", ".7z")


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
    found = [(p, problem) for p, problem in problems.items() if problem not in (None, "not found")]
    if found:
        bad, problem = found[0]
        raise TextlabError(f"{what} {bad} {problem}. {fix}")
    raise TextlabError(f"{what} {looked} not found in {folder}. {fix}")


def max_data_bytes() -> int:
    """The size cap of a data file once decompressed: ``TEXTLAB_MAX_DATA_MB`` MiB (default
    1024)."""
    value = os.environ.get("TEXTLAB_MAX_DATA_MB", "").strip()
    try:
        megabytes = float(value) if value else DEFAULT_MAX_DATA_MB
    except ValueError:
        raise TextlabError(
            f"TEXTLAB_MAX_DATA_MB={value[:20]!r} is not a number of MiB; unset it or set it to "
            f"e.g. {DEFAULT_MAX_DATA_MB}"
        ) from None
    return max(1, int(megabytes * (1 << 20)))


@contextmanager
def _open_stream(path: Path) -> Iterator[IO[bytes]]:
    """The file's decompressed bytes as a stream (a ``.zip`` must hold one file)."""
    suffix = path.suffix.lower()
    if suffix in UNREAD_COMPRESSIONS:
        raise TextlabError(
            f"{path}: {suffix} files are not read; decompress it first (or recompress it as .gz)"
        )
    if suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1:
                raise TextlabError(
                    f"{path}: a .zip data file must hold exactly one file, it holds "
                    f"{len(members)}; unzip it and point the data config at the file"
                )
            with archive.open(members[0]) as member:
                yield member
        return
    opener: Any = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(suffix, open)
    with opener(path, "rb") as handle:
        yield handle


def _chunks(path: Path, limit: int) -> Iterator[bytes]:
    """The decompressed bytes in chunks, refused in one line on the first NUL byte, a line
    longer than ``MAX_LINE_BYTES`` or more than ``limit`` bytes in all."""
    total = 0
    line = 0  # bytes since the last line end
    compressed = path.suffix.lower() in COMPRESSIONS
    try:
        with _open_stream(path) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                if b"\0" in chunk:
                    at = total + chunk.index(b"\0")
                    raise TextlabError(
                        f"{path}: holds a NUL byte (at byte {at:,}{' decompressed' * compressed})"
                        "; it is binary, damaged or UTF-16 text: save it as UTF-8 text"
                    )
                total += len(chunk)
                if total > limit:
                    what = "expands to" if compressed else "holds"
                    raise TextlabError(
                        f"{path}: {what} more than {limit / (1 << 20):,.0f} MiB (stopped reading "
                        "there); a data file this large is damaged or a decompression bomb. For "
                        "a genuine one set TEXTLAB_MAX_DATA_MB higher, or use a subset"
                    )
                first = chunk.find(b"\n")
                if first < 0:
                    line += len(chunk)
                    longest = line
                else:
                    longest, line = line + first, len(chunk) - chunk.rfind(b"\n") - 1
                if longest > MAX_LINE_BYTES:
                    raise TextlabError(
                        f"{path}: a line running to byte {total:,} is longer than "
                        f"{MAX_LINE_BYTES >> 20} MiB; no text a model reads is that long: the "
                        "file is damaged or not line-based text (shorten its texts, e.g. to "
                        "100,000 characters)"
                    )
                yield chunk
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as err:
        raise TextlabError(
            f"{path}: cannot parse ({type(err).__name__}: {shorten(str(err), 200)}); it is "
            f"damaged or not a valid {path.suffix.lstrip('.') or 'text'} file: check it, or "
            "export it again"
        ) from err


def read_data_bytes(path: str | Path) -> bytes:
    """A data file's bytes, decompressed (``.gz``, ``.bz2``, ``.xz``, one-file ``.zip``), read as
    a stream with bounds: no NUL byte, no line over ``MAX_LINE_BYTES``, at most
    ``max_data_bytes()`` in all. The file is checked in a first pass that keeps nothing, so a
    gz bomb costs one chunk of memory, then read."""
    path = Path(path)
    limit = max_data_bytes()
    for _ in _chunks(path, limit):
        pass
    return b"".join(_chunks(path, limit))
