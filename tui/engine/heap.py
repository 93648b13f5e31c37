"""How streamtui's processes ask the C allocator to give big freed blocks back.

glibc raises its mmap threshold each time a big block is freed (up to 32 MB), so the growing
copies that a long answer makes (its text, the pane's source, a save's row, a huge chunk's
slices) end up on the heap, whose freed space is kept rather than given back. Measured with
``benchmarks/run.py --only memory``: a 1,000,000-chunk answer peaked at 325 MB in the app and
kept 302 MB; with the threshold fixed at 128 kB, such blocks get mappings of their own, returned
when freed (262 and 199 MB). Elsewhere (macOS, musl) nothing changes.
"""

from __future__ import annotations

import sys

#: glibc's mallopt option for the size from which a block gets its own mapping.
_M_MMAP_THRESHOLD = -3
OWN_MAPPING_FROM = 128 * 1024


def return_big_blocks() -> None:
    """Fix glibc's mmap threshold at :data:`OWN_MAPPING_FROM`, once, before a process makes its
    big allocations (the app: when it mounts, before any answer)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl's mallopt does nothing)
        libc.mallopt(_M_MMAP_THRESHOLD, OWN_MAPPING_FROM)
    except (OSError, AttributeError):
        pass
