"""An installed streamtui has every file it reads: each data file under tui/ is in package-data
(a stylesheet left out starts in a checkout and crashes when installed)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_data_file_of_the_package_is_installed():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["tui"]
    package = ROOT / "tui"
    data = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]
    assert data
    # setuptools globs: "*" does not cross a "/".
    missing = [name for name in data if not any(fnmatch.fnmatch(name, pattern) and name.count("/") == pattern.count("/") for pattern in patterns)]
    assert not missing, f"not installed by [tool.setuptools.package-data]: {missing}"
