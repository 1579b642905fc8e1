"""Numerical integrators and kernels (numba, scipy)."""

from .jit_cache import install as _install_jit_cache
from .process_exit import freeze_at_exit as _freeze_at_exit

_install_jit_cache()  # before any module here compiles: numba then always finds a cache directory (or none)
_freeze_at_exit()  # a process that used numba's kernels exits without traversing their objects
