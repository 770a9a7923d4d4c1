"""``manifest.json``: the sha256 and size of every file of an export, plus where it came from.

Written last, so a folder with a manifest is complete; ``src.inference.export_folder``
re-hashes the files against it when a folder is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from src.inference.export_folder import MANIFEST
from src.pipeline.run_folder import write_json
from src.utils.run_info import file_sha256


def write_manifest(out_dir: Path, about: dict[str, Any]) -> Path:
    """Hash every file under ``out_dir`` (except the manifest) into ``manifest.json``."""
    files = {
        path.relative_to(out_dir).as_posix(): {
            "sha256": file_sha256(path),
            "bytes": path.stat().st_size,
        }
        for path in sorted(out_dir.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }
    return write_json(out_dir / MANIFEST, {**about, "files": files})
