"""Numerical integrators and kernels (numba, scipy)."""

from .jit_cache import install as _install_jit_cache

_install_jit_cache()  # before any module here compiles: numba then always finds a cache directory (or none)
