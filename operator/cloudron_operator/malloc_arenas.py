"""Fewer glibc malloc arenas than glibc's default of eight per CPU.

glibc gives a thread that allocates while another holds the main arena an arena of its own, and
keeps what each arena once held. The operator's handler and refresh threads all parse JSON
answers: with one arena each, memory freed in one is not reused by the others and the process
grows with the number of threads, not with the number of apps. Two arenas keep the contention
low (the GIL serialises most allocations anyway) and the memory shared.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_ARENA_MAX = -8  # from glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Set glibc's arena limit, before any thread starts; False where it does not apply.

    An administrator's own MALLOC_ARENA_MAX wins. Other C libraries (musl) have no arenas to limit.
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))
