"""Pins from poetry.lock for the packages that poetry must not install (torch and what needs it,
and the optional benchmark packages that need torch).

Poetry ignores pip's local find-links and would replace the local CPU torch wheel with
the multi-GB CUDA build, so those packages are locked by poetry but installed by pip.

  constraints                      name==version for every locked package (pip -c)
  torch-group                      name==version for the torch group
  torch-group --hashes [--report R]
                                   the same with the lock's sha256 of every file, for
                                   pip --require-hashes; R (a `pip install --dry-run --report`
                                   JSON) adds the dependencies pip resolved, pinned the same way
  bench-group [--hashes [--report R]]
                                   the same for the bench group (`make bench-env`)
  check-wheel WHEEL [SHA256 ...]   check a wheel's sha256 against the lock (see check_wheel)
"""

import argparse
import hashlib
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def load_lock(lock_path: Path = ROOT / "poetry.lock") -> list[dict]:
    return tomllib.loads(lock_path.read_text())["package"]


def locked_versions(lock: list[dict] | None = None) -> dict[str, str]:
    return {pkg["name"]: pkg["version"] for pkg in (load_lock() if lock is None else lock)}


def locked_hashes(lock: list[dict], name: str, version: str) -> list[str]:
    """The sha256 of every file poetry locked for name==version (PyPI's files)."""
    for pkg in lock:
        if normalize(pkg["name"]) == normalize(name) and pkg["version"] == version:
            return [f["hash"] for f in pkg["files"] if f["hash"].startswith("sha256:")]
    raise SystemExit(f"{name}=={version} is not in poetry.lock")


def poetry_group(name: str, pyproject_path: Path = ROOT / "pyproject.toml") -> list[str]:
    """The package names of a poetry dependency group."""
    project = tomllib.loads(pyproject_path.read_text())
    return list(project["tool"]["poetry"]["group"][name]["dependencies"])


def torch_group(pyproject_path: Path = ROOT / "pyproject.toml") -> list[str]:
    return poetry_group("torch", pyproject_path)


def report_pins(report_path: Path) -> dict[str, str]:
    """name -> version of what a `pip install --dry-run --report` would install."""
    report = json.loads(report_path.read_text())
    return {
        normalize(item["metadata"]["name"]): item["metadata"]["version"]
        for item in report["install"]
    }


def hashed_requirements(
    lock: list[dict], group: list[str], report: dict[str, str] | None = None, title: str = "torch"
) -> list[str]:
    versions = {normalize(name): version for name, version in locked_versions(lock).items()}
    lines = [f"# {title} group, pinned and hashed from poetry.lock"]
    for name in group:
        version = versions.get(normalize(name))
        if version is None:
            raise SystemExit(
                f"{name} (the {title} group of pyproject.toml) is not in poetry.lock; "
                "run `make lock` to lock it"
            )
        hashes = " ".join(f"--hash={h}" for h in locked_hashes(lock, name, version))
        lines.append(f"{name}=={version} {hashes}")
    resolved = report or {}
    deps = sorted(set(resolved) - {normalize(name) for name in group})
    if deps:
        lines.append("# their dependencies that pip resolved, pinned and hashed from poetry.lock")
    for name in deps:
        version = resolved[name]
        if versions.get(name) != version:
            raise SystemExit(
                f"pip resolved {name}=={version}; poetry.lock holds {versions.get(name)}"
            )
        hashes = " ".join(f"--hash={h}" for h in locked_hashes(lock, name, version))
        lines.append(f"{name}=={version} {hashes}")
    return lines


def check_wheel(lock: list[dict], wheel: Path, extra: list[str]) -> str:
    """Accept a wheel whose sha256 the lock (or an explicit SHA256) vouches for.

    poetry.lock holds only PyPI's files, so a local-version build (torch 2.13.0+cpu) cannot
    be in it: without an explicit SHA256 such a wheel passes on its version alone, said
    loudly. A wheel without a local version claims to be PyPI's file and must match the lock.
    """
    name, version = wheel.name.split("-")[:2]
    public, _, local = version.partition("+")
    locked = {normalize(n): v for n, v in locked_versions(lock).items()}
    if locked.get(normalize(name)) != public:
        raise SystemExit(f"{wheel.name}: poetry.lock holds {name}=={locked.get(normalize(name))}")
    with wheel.open("rb") as f:
        digest = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
    if digest in locked_hashes(lock, name, public):
        return f"{wheel.name}: {digest} matches poetry.lock"
    if digest in {"sha256:" + h.removeprefix("sha256:") for h in extra}:
        return f"{wheel.name}: {digest} matches TORCH_SHA256"
    if extra or not local:
        raise SystemExit(f"{wheel.name}: {digest} matches neither poetry.lock nor TORCH_SHA256")
    return (
        f"WARNING: {wheel.name} is checked by version only: poetry.lock holds PyPI's files, "
        f"not this +{local} build. To pin it: make env TORCH_SHA256={digest[len('sha256:') :]}"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what",
        nargs="?",
        default="torch-group",
        choices=["constraints", "torch-group", "bench-group", "check-wheel"],
    )
    parser.add_argument("args", nargs="*", help="check-wheel: WHEEL [SHA256 ...]")
    parser.add_argument("--hashes", action="store_true")
    parser.add_argument("--report", type=Path)
    opts = parser.parse_args(argv)
    lock = load_lock()
    versions = locked_versions(lock)
    if opts.what == "check-wheel":
        if not opts.args:
            parser.error("check-wheel needs WHEEL")
        print(check_wheel(lock, Path(opts.args[0]), opts.args[1:]))
    elif opts.what in ("torch-group", "bench-group") and opts.hashes:
        report = report_pins(opts.report) if opts.report else None
        title = opts.what.removesuffix("-group")
        print("\n".join(hashed_requirements(lock, poetry_group(title), report, title)))
    else:
        if opts.what == "constraints":
            names = sorted(versions)
        else:
            names = poetry_group(opts.what.removesuffix("-group"))
        by_name = {normalize(name): version for name, version in versions.items()}
        for name in names:
            if normalize(name) not in by_name:
                raise SystemExit(f"{name} is not in poetry.lock; run `make lock` to lock it")
            print(f"{name}=={by_name[normalize(name)]}")


if __name__ == "__main__":
    main(sys.argv[1:])
