"""Files: output paths checked before any computation, atomic writes with normal permissions, size checks.

Every file grokode writes (trajectories, figures, sweep tables) goes through :func:`atomic_write`: the bytes
go to a temporary file in the target's directory, which is then renamed over the target, so a crash or a
kill leaves either the old file or the new one, never half of one. ``tempfile.mkstemp`` creates files with
mode 0600; the final file gets the mode an ordinary ``open(..., "w")`` would give (0666 minus the umask).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from .errors import InputError, OutputError


def _umask() -> int:
    """The process umask: read from /proc on Linux (no change to the process state), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # portable fallback; another thread creating a file in between would see 0o022
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(fh)`` on a temporary file next to ``path``, then rename it to ``path``.

    The parent directory is created if needed; the file ends with mode 0o666 & ~umask.
    A failure of the file system (no space, a quota, the file-size limit, an immutable target, an I/O error)
    leaves no temporary file behind and raises :class:`~grokode.errors.OutputError` naming ``path``.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"cannot write {str(path)!r}: {_write_failure(exc)}", exc.errno) from exc
        raise
    return path


def _write_failure(exc: OSError) -> str:
    """One line for a failed write, with what the user can do about the common causes."""
    import errno

    reason = exc.strerror or one_line(exc)
    hints = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exhausted",
             errno.EFBIG: "the file-size limit (ulimit -f) is below the file's size",
             errno.EPERM: "the file or its directory is immutable or not permitted",
             errno.EROFS: "the file system is read-only", errno.EIO: "an I/O error of the device"}
    hint = hints.get(exc.errno or -1)
    return f"{reason} ({hint})" if hint else reason


def check_output_path(path: str | os.PathLike, suffixes: tuple[str, ...], *, force: bool, what: str) -> Path:
    """Refuse, before any computation, an output path that could not be written.

    Checks: the path is not empty, its suffix is one of ``suffixes``, no part of it is longer than the file
    system allows; it is not a directory; an existing file only with ``force``; the nearest existing ancestor
    is a directory (not a file) in which a file can be created. The last check creates (and at once removes)
    a temporary file there: permission bits alone do not tell, since root may write to a directory without
    write permission while nobody may create files in /proc or on a read-only mount.
    """
    try:
        path = Path(os.fspath(path))
    except TypeError:
        raise InputError(f"{what} must be a file path, got {path!r}") from None
    text = str(path)
    if not text.strip() or text == "." or "\0" in text:
        raise InputError(f"{what} must be a file path, got {text!r}")
    if path.suffix.lower() not in suffixes:
        raise InputError(f"{what} {text!r} must end in {' or '.join(suffixes)}")
    try:
        if path.is_dir():
            raise InputError(f"{what} {text!r} is a directory")
        exists = path.exists()
    except OSError as exc:
        raise InputError(f"{what} {_shorten(text)!r}: {exc.strerror or one_line(exc)}") from None
    if exists and not force:
        raise InputError(f"{what} {text!r} exists (use --force to overwrite)")
    if exists:
        _require_replaceable(path, f"{what} {text!r}")
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{what} {text!r}: {str(parent)!r} is a file, not a directory")
    limit = _name_max(parent)
    long = next((part for part in path.parts if len(os.fsencode(part)) > limit), None)
    if long is not None:
        raise InputError(f"{what} {_shorten(text)!r}: the name {_shorten(long)!r} is longer than the {limit} bytes "
                         "the file system allows")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{what} {text!r}: directory {str(parent)!r} is not writable")
    require_writable_directory(parent, f"{what} {text!r}")
    return path


def _require_replaceable(path: Path, what: str) -> None:
    """InputError when an existing file cannot be replaced: an immutable or append-only file (chattr +i / +a)
    refuses to be opened for writing with EPERM, even to root, and refuses the final rename the same way.
    Opening without truncating changes nothing; a refusal for lack of permission bits (EACCES) is not one,
    since the rename needs only the directory's permission."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        import errno

        if exc.errno == errno.EPERM:
            raise InputError(f"{what} cannot be replaced: it is immutable or append-only (chattr +i/+a; "
                             f"{exc.strerror})") from None
        return
    os.close(fd)


def require_writable_directory(directory: Path, what: str) -> None:
    """InputError unless a file can be created in ``directory`` (tried: a temporary file, removed at once)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".grokode-probe-", dir=directory)
    except OSError as exc:
        raise InputError(f"{what}: directory {str(directory)!r} is not writable "
                         f"({exc.strerror or one_line(exc)})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_output_directory(path: str | os.PathLike, what: str) -> Path:
    """Refuse, before any computation, a directory that cannot be used (or created) to write files into."""
    try:
        path = Path(os.fspath(path))
    except TypeError:
        raise InputError(f"{what} must be a directory path, got {path!r}") from None
    text = str(path)
    if not text.strip() or "\0" in text:
        raise InputError(f"{what} must be a directory path, got {text!r}")
    try:
        if path.exists() and not path.is_dir():
            raise InputError(f"{what} {text!r} is a file, not a directory")
    except OSError as exc:
        raise InputError(f"{what} {_shorten(text)!r}: {exc.strerror or one_line(exc)}") from None
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise InputError(f"{what} {text!r}: {str(ancestor)!r} is a file, not a directory")
    require_writable_directory(ancestor, f"{what} {text!r}")
    return path


def _name_max(directory: Path) -> int:
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def require_regular_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` if it names an existing regular file (symbolic links followed); an InputError otherwise.

    Opening a named pipe blocks until someone writes to it and a device can stream without end, so only
    regular files are read.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{what} not found: {str(path)!r}") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {str(path)!r}: {exc.strerror or one_line(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"cannot read {what} {str(path)!r}: it is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"cannot read {what} {str(path)!r}: it is not a regular file (a pipe, device or socket)")
    return path


# ----------------------------------------------------------------------------------------------------
# Memory


def available_memory() -> int:
    """Bytes of memory a new allocation can use now: MemAvailable (Linux), else physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000.0
    return f"{n:.3g} PB"


def require_memory(needed: float, what: str, *, available: int | None = None) -> None:
    """InputError (with the estimate) when ``needed`` bytes exceed the memory available now: the least of the
    machine's available memory, the process's own limits (ulimit -v, ulimit -d) and its cgroup's limit."""
    if available is None:
        have, source = memory_headroom()
    else:
        have, source = available, ""
    if needed > have:
        raise InputError(f"{what} needs about {format_bytes(needed)} of memory, more than the "
                         f"{format_bytes(have)} available{f' ({source})' if source else ''}")


def memory_headroom() -> tuple[int, str]:
    """(bytes a new allocation can use, what limits it): the least of MemAvailable, what the address-space and
    data-segment limits (RLIMIT_AS, RLIMIT_DATA) leave beyond the process's current size, and what its memory
    cgroup (v2 ``memory.max``, v1 ``memory.limit_in_bytes``) leaves beyond its current usage."""
    candidates = [(available_memory(), "")]
    try:
        import resource

        status = _proc_status()
        for limit_name, used_key, label in (("RLIMIT_AS", "VmSize", "the address-space limit, ulimit -v"),
                                            ("RLIMIT_DATA", "VmData", "the data-segment limit, ulimit -d")):
            limit = getattr(resource, limit_name, None)
            if limit is None:
                continue
            soft, _ = resource.getrlimit(limit)
            if soft != resource.RLIM_INFINITY and soft >= 0:
                candidates.append((max(0, soft - status.get(used_key, 0)), label))
    except (ImportError, OSError, ValueError):
        pass
    cgroup = _cgroup_headroom()
    if cgroup is not None:
        candidates.append((cgroup, "the memory limit of the process's cgroup"))
    return min(candidates, key=lambda c: c[0])


def _proc_status() -> dict[str, int]:
    """Sizes (bytes) from /proc/self/status (Linux; empty elsewhere)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                fields = rest.split()
                if len(fields) == 2 and fields[1] == "kB" and fields[0].isdigit():
                    out[key] = int(fields[0]) * 1024
    except OSError:
        pass
    return out


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_headroom(proc: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> int | None:
    """Bytes the process's memory cgroup allows beyond its current usage; None without a limit."""
    try:
        with open(proc, encoding="ascii", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    best = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, rel = parts
        rel = rel.lstrip("/")
        if hierarchy == "0" and controllers == "":  # v2
            dirs, limit_file, usage_file = [root], "memory.max", "memory.current"
        elif "memory" in controllers.split(","):  # v1
            dirs = [os.path.join(root, "memory")]
            limit_file, usage_file = "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        for base in dirs:
            for directory in (os.path.join(base, rel), base):  # inside a cgroup namespace the group is the root
                limit = _read_int(os.path.join(directory, limit_file))
                if limit is None:
                    continue
                if limit < 1 << 60:
                    usage = _read_int(os.path.join(directory, usage_file)) or 0
                    room = max(0, limit - usage)
                    best = room if best is None else min(best, room)
                break
    return best


# ----------------------------------------------------------------------------------------------------
# .npz archives


def npz_array_headers(path: str | os.PathLike, what: str = "file") -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array in an ``.npz`` archive, read from the headers without loading data.

    Lets a loader refuse a file whose header claims arrays too large for memory before it allocates them.
    Raises InputError for a file that is not a readable .npz archive (or not a regular file: a pipe would
    block), or whose header states an impossible shape.
    """
    path = require_regular_file(path, what)
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            verify_archive(zf, path, what)
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                out[info.filename[:-4]] = (tuple(int(s) for s in shape), dtype)
    except FileNotFoundError:
        raise InputError(f"{what} not found: {str(path)!r}") from None
    except IsADirectoryError:
        raise InputError(f"{str(path)!r} is a directory, not an .npz file") from None
    except InputError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, SyntaxError, TypeError, zlib.error) as exc:
        raise InputError(f"cannot read {what} {str(path)!r} as an .npz archive: {one_line(exc)}") from None
    for name, (shape, dtype) in out.items():
        if any(s < 0 for s in shape):
            raise InputError(f"array {name} in {str(path)!r} has an impossible shape {shape} (its header is corrupt)")
        if dtype.hasobject:
            raise InputError(f"array {name} in {str(path)!r} holds Python objects (dtype {dtype}): grokode reads only "
                             "numeric arrays, never pickles")
    return out


def verify_archive(zf: zipfile.ZipFile, path: Path, what: str) -> None:
    """InputError naming the member when an archive holds two members of one name (which one numpy reads is an
    accident of its implementation) or a member whose data are damaged (a corrupt deflate stream, a bad CRC-32).

    Every member is read to its end: zip checks a member's CRC only there, and numpy reads an array's bytes
    without reaching it, so a flipped byte in the data would otherwise load silently.
    """
    seen: set[str] = set()
    for info in zf.infolist():
        if info.filename in seen:
            raise InputError(f"{what} {str(path)!r} holds two members named {info.filename!r} (a damaged or "
                             "hand-made archive: which one counts is ambiguous)")
        seen.add(info.filename)
    for info in zf.infolist():
        try:
            with zf.open(info) as fh:
                while fh.read(1 << 20):
                    pass
        except zlib.error as exc:
            raise InputError(f"{what} {str(path)!r} is damaged: member {info.filename!r} has a corrupt compressed "
                             f"stream ({one_line(exc)})") from None
        except zipfile.BadZipFile as exc:
            raise InputError(f"{what} {str(path)!r} is damaged: member {info.filename!r}: {one_line(exc)}") from None
        except (EOFError, OSError) as exc:
            raise InputError(f"{what} {str(path)!r} is damaged: member {info.filename!r} is truncated or unreadable "
                             f"({one_line(exc)})") from None
        except NotImplementedError as exc:
            raise InputError(f"{what} {str(path)!r}: member {info.filename!r} cannot be read "
                             f"({one_line(exc)})") from None


def npz_size(headers: dict[str, tuple[tuple[int, ...], np.dtype]]) -> int:
    """Bytes the arrays of an archive take once loaded."""
    total = 0
    for shape, dtype in headers.values():
        total += int(np.prod(shape, dtype=np.float64)) * max(dtype.itemsize, 1)
    return total


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@contextlib.contextmanager
def open_npz(path: str | os.PathLike, what: str, expected: str = "") -> Iterator[np.lib.npyio.NpzFile]:
    """``np.load`` of an archive (no pickles) with every failure turned into a one-line InputError (``expected``:
    what the archive should hold, named when the file is not an archive)."""
    path = require_regular_file(path, what)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{what} not found: {str(path)!r}") from None
    except IsADirectoryError:
        raise InputError(f"{what} {str(path)!r} is a directory") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"cannot read {what} {str(path)!r}: {one_line(exc)}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        hint = f" (expected {expected})" if expected else ""
        raise InputError(f"{what} {str(path)!r} is not an .npz archive{hint}")
    with archive:
        yield archive


# ----------------------------------------------------------------------------------------------------
# A small on-disk cache (derivations)


def cache_dir() -> Path:
    """Where grokode caches derived text: $GROKODE_CACHE_DIR, else $XDG_CACHE_HOME/grokode, else ~/.cache/grokode."""
    if os.environ.get("GROKODE_CACHE_DIR"):
        return Path(os.environ["GROKODE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "grokode"


def source_stamp(*paths: str | os.PathLike) -> str:
    """Size and modification time of each source file: part of a cache key, so editing a file invalidates it."""
    parts = []
    for p in paths:
        try:
            st = os.stat(p)
            parts.append(f"{p}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{p}:missing")
    return "|".join(parts)


def cached_text(namespace: str, key: str, compute: Callable[[], str]) -> str:
    """``compute()``, stored under ``cache_dir()/namespace`` by a hash of ``key`` and read back next time.

    A cache that cannot be read or written is skipped: the result is then computed every time. An entry starts
    with a line naming its key's and its text's SHA-256; an entry without it, or whose text does not match it
    (empty, truncated, edited, another key's), is recomputed and replaced, never printed.
    """
    import hashlib

    key_hash = hashlib.sha256(key.encode("utf-8")).hexdigest()
    path = cache_dir() / namespace / (key_hash[:32] + ".txt")
    try:
        text = _valid_entry(path.read_bytes(), key_hash)
    except OSError:
        text = None
    if text is not None:
        return text
    text = compute()
    data = text.encode("utf-8")
    header = f"{CACHE_MAGIC} {key_hash} {hashlib.sha256(data).hexdigest()}\n".encode("ascii")
    with contextlib.suppress(OSError):
        atomic_write(path, lambda fh: fh.write(header + data))
    return text


#: First word of a cache entry's header line.
CACHE_MAGIC = "grokode-cache-1"


def _valid_entry(raw: bytes, key_hash: str) -> str | None:
    """The text of a cache entry if its header names ``key_hash`` and the SHA-256 of the text that follows."""
    import hashlib

    head, newline, data = raw.partition(b"\n")
    parts = head.split(b" ")
    if not newline or len(parts) != 3 or parts[0] != CACHE_MAGIC.encode() or parts[1] != key_hash.encode():
        return None
    if hashlib.sha256(data).hexdigest().encode() != parts[2]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
