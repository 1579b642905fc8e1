"""numba's on-disk cache on a read-only installation: a writable fallback instead of "no locator available".

``numba.njit(cache=True)`` looks for a cache directory next to the source (``__pycache__``), then in the user's
cache (``~/.cache/numba``); when neither is writable (a read-only package directory and a read-only or absent
HOME, common on clusters) it raises ``RuntimeError: cannot cache function …: no locator available`` while the
module is imported. :func:`install` appends one more locator to numba's list, tried only after numba's own:
a private directory under the system's temporary directory (``$TMPDIR/grokode-numba-<uid>``), announced once
with a one-line :class:`~grokode.errors.GrokodeWarning`. When no temporary directory is writable either, a
function compiles without a cache (each process compiles again) instead of failing, announced the same way.
Nothing for the user to set.
"""

from __future__ import annotations

import os
import stat
import tempfile
import warnings

from ..errors import GrokodeWarning

_announced: set[str] = set()


def _announce(kind: str, text: str) -> None:
    if kind not in _announced:
        _announced.add(kind)
        warnings.warn(text, GrokodeWarning, stacklevel=4)


def fallback_directory() -> str | None:
    """``$TMPDIR/grokode-numba-<uid>``, created with mode 0700, if it is (or can be made) a writable directory of
    this user; None otherwise (a path another user owns is never used)."""
    try:
        base = tempfile.gettempdir()
    except (OSError, FileNotFoundError):
        return None
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(base, f"grokode-numba-{uid}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != uid):
            return None
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return None
    return path


def install() -> None:
    """Append grokode's fallback locator to numba's cache locators (once per process)."""
    try:
        from numba.core import caching
    except ImportError:  # pragma: no cover - numba is a dependency
        return
    _compile_uncached_when_no_locator()
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)  # numba ≥ 0.61 / older
    base = getattr(caching, "UserProvidedCacheLocator", None) or getattr(caching, "_UserProvidedCacheLocator", None)
    if impl is None or base is None or not isinstance(getattr(impl, "_locator_classes", None), list):
        return  # another numba layout: no fallback directory, but still no failure (uncached)
    if any(getattr(cls, "_grokode", False) for cls in impl._locator_classes):
        return

    class TemporaryDirectoryLocator(base):  # type: ignore[misc,valid-type]
        """numba's user-provided-directory locator, pointed at :func:`fallback_directory`."""

        _grokode = True

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(self._directory, self.get_suitable_cache_subpath(py_file))

        @classmethod
        def from_function(cls, py_func, py_file):
            directory = fallback_directory()
            if directory is None or not os.path.exists(py_file):
                return None
            cls._directory = directory
            locator = super(base, cls).from_function(py_func, py_file)  # numba's mixin: checks the directory
            if locator is not None:
                _announce("fallback", f"numba cannot cache compiled code next to {os.path.dirname(py_file)!r} or "
                                      f"in the user's cache (read-only); caching it in {directory!r} instead")
            return locator

    impl._locator_classes.append(TemporaryDirectoryLocator)


def _compile_uncached_when_no_locator() -> None:
    """When no locator at all is available (not even a temporary directory), compile without a cache (numba's
    NullCache, which the dispatcher holds until caching is enabled) instead of failing the import."""
    from numba.core import dispatcher

    original = dispatcher.Dispatcher.enable_caching
    if getattr(original, "_grokode", False):
        return

    def enable_caching(self) -> None:
        try:
            original(self)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            source = getattr(getattr(self, "py_func", None), "__code__", None)
            where = os.path.dirname(source.co_filename) if source is not None else "its source"
            _announce("uncached", f"numba cannot cache compiled code next to {where!r}, in the user's cache or in "
                                  "a temporary directory (all read-only); compiling without a cache")

    enable_caching._grokode = True  # type: ignore[attr-defined]
    dispatcher.Dispatcher.enable_caching = enable_caching  # type: ignore[method-assign]
