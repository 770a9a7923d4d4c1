"""Print pip pins for packages that poetry must not install (torch and what needs it).

Poetry ignores pip's local find-links and would replace the local CPU torch wheel with
the multi-GB CUDA build, so those packages are locked by poetry but installed by pip.
Usage: python3 tools/locked_requirements.py constraints|torch-group
"""

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "poetry.lock").read_text())
    return {pkg["name"]: pkg["version"] for pkg in lock["package"]}


def torch_group() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(project["tool"]["poetry"]["group"]["torch"]["dependencies"])


def main(what: str) -> None:
    versions = locked_versions()
    names = sorted(versions) if what == "constraints" else torch_group()
    for name in names:
        print(f"{name}=={versions[name]}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "torch-group")
