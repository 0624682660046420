"""The files of one volume: stat, list, make a directory, read, write, remove and change
owner or mode, for the E2B volume content API.

Sandbox feature, filesystem side. The control plane runs as root while sandboxes (uid
65534) can put anything inside a mounted volume, symbolic links to ``/etc/shadow`` and
hard links included, so nothing here ever acts outside ``root``:

- a path is volume-relative (a leading ``/`` is the volume root); ``..`` and NUL are
  refused (400) and every component is opened relative to its parent's descriptor with
  ``O_NOFOLLOW``, so no symbolic link is ever followed, neither as a component (400) nor as
  the final entry of a read, write, directory creation or metadata change (400); `stat` and
  `list_dir` report a link as type ``symlink`` with its target, and `remove` unlinks the link;
- writes go to a new temporary file in the same directory, renamed over the entry when
  complete: readers never see half a file, and a name that is a hard link to a file
  outside is replaced, never written through; owner and mode changes refuse a file with
  other hard links (400), which may live outside;
- modes are permission bits plus the sticky bit (``0o1777``); setuid and setgid are
  refused, so a volume cannot carry a set-id program into a sandbox;
- directories are removed entry by entry relative to their descriptors (``O_NOFOLLOW |
  O_DIRECTORY``, so neither a link nor a FIFO swapped in is ever opened), at most
  `MAX_DEPTH` levels deep; listings stop at `MAX_DEPTH` levels and `MAX_ENTRIES` entries.

New entries are owned by the sandbox user unless an owner is given, with modes 0o644 for
files and 0o755 for directories (created parent directories always get these defaults).
Failures raise `VolumeFileError` carrying the HTTP status the E2B SDK expects: 404 for a
missing entry, 400 for a bad path or parameter (naming it), 409 for an entry in the way,
507 for a full disk.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat as stat_module
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from dockyard.node.sandbox.isolation import SANDBOX_GID, SANDBOX_UID

EntryType = Literal["directory", "file", "symlink", "unknown"]

DEFAULT_FILE_MODE = 0o644
DEFAULT_DIR_MODE = 0o755
#: Mode bits a caller may set: permissions and the sticky bit, never setuid or setgid.
ALLOWED_MODE_BITS = 0o1777
_MAX_ID = 2**32 - 2  # (uid_t)-1 means "unchanged" to the kernel
_DIR_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
_TEMP_PREFIX = ".dockyard-upload-"
#: Deepest directory tree a listing or a removal goes into.
MAX_DEPTH = 128
#: Most entries one listing returns.
MAX_ENTRIES = 100_000


class VolumeFileError(Exception):
    """A volume operation failed; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class EntryStat:
    """One entry as the E2B ``VolumeEntryStat`` describes it (`as_json` gives that body)."""

    name: str
    type: EntryType
    path: str
    size: int
    mode: int
    uid: int
    gid: int
    atime: datetime
    mtime: datetime
    ctime: datetime
    target: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "path": self.path,
            "size": self.size,
            "mode": self.mode,
            "uid": self.uid,
            "gid": self.gid,
            "atime": self.atime.isoformat(),
            "mtime": self.mtime.isoformat(),
            "ctime": self.ctime.isoformat(),
        }
        if self.target is not None:
            body["target"] = self.target
        return body


def split_path(path: str) -> list[str]:
    """The components of volume path `path` (``""`` and ``"/"`` are the root: ``[]``)."""
    if "\0" in path:
        raise VolumeFileError(400, "path: must not contain NUL")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise VolumeFileError(400, f"path: must not contain '..', got {path!r}")
    return parts


def check_mode(mode: int | None) -> None:
    if mode is not None and not 0 <= mode <= ALLOWED_MODE_BITS:
        raise VolumeFileError(
            400, f"mode: must be between 0 and 0o1777 (no setuid/setgid), got {mode:#o}"
        )


def check_id(name: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= _MAX_ID:
        raise VolumeFileError(400, f"{name}: must be between 0 and {_MAX_ID}, got {value}")


def _display(parts: list[str]) -> str:
    return "/" + "/".join(parts)


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _kind(mode: int) -> EntryType:
    if stat_module.S_ISDIR(mode):
        return "directory"
    if stat_module.S_ISREG(mode):
        return "file"
    if stat_module.S_ISLNK(mode):
        return "symlink"
    return "unknown"


def _os_error(exc: OSError, parts: list[str]) -> VolumeFileError:
    shown = _display(parts)
    if exc.errno == errno.ENOENT:
        return VolumeFileError(404, f"path: {shown} not found")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return VolumeFileError(507, "the volume's disk is full")
    if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
        return VolumeFileError(409, f"path: {shown} is in the way ({exc.strerror})")
    if exc.errno in (errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL):
        return VolumeFileError(400, f"path: {shown}: {exc.strerror}")
    return VolumeFileError(500, f"path: {shown}: {exc.strerror}")


def _set_owner_mode(fd: int, uid: int | None, gid: int | None, mode: int | None) -> None:
    """Change the owner, then the mode, of the inode open as `fd` (an ``O_PATH`` descriptor
    of something that is not a symbolic link): ``/proc/self/fd`` names that very inode, so
    no path is looked up again."""
    proc = f"/proc/self/fd/{fd}"
    if uid is not None or gid is not None:
        os.chown(proc, -1 if uid is None else uid, -1 if gid is None else gid)
    if mode is not None:
        os.chmod(proc, mode)


class PendingWrite:
    """A file being written (`VolumeFiles.begin_write`): `write` chunks, then `commit` to
    put it in place, or `abort` to drop it. The entry is untouched until `commit`."""

    def __init__(self, files: VolumeFiles, parent: int, parts: list[str], fd: int, temp: str):
        self._files = files
        self._parent = parent
        self._parts = parts
        self._fd = fd
        self._temp = temp
        self._done = False

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self.abort()
            raise _os_error(exc, self._parts) from None

    def commit(self) -> EntryStat:
        name = self._parts[-1]
        try:
            os.fsync(self._fd)
            os.rename(self._temp, name, src_dir_fd=self._parent, dst_dir_fd=self._parent)
        except OSError as exc:
            self.abort()
            raise _os_error(exc, self._parts) from None
        self._done = True
        try:
            return self._files._stat_at(self._parent, name, self._parts)
        finally:
            self._close()

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            os.unlink(self._temp, dir_fd=self._parent)
        self._close()

    def _close(self) -> None:
        for fd in (self._fd, self._parent):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fd = self._parent = -1


class VolumeFiles:
    """Every content operation on the volume whose directory is `root` (see the module
    docstring for the guarantees). Methods are blocking; paths are volume paths."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- resolution ------------------------------------------------------------------

    def _open_root(self) -> int:
        try:
            return os.open(self.root, _DIR_FLAGS)
        except OSError as exc:
            raise VolumeFileError(
                500, f"the volume's directory is unusable: {exc.strerror}"
            ) from None

    def _open_dir(self, parts: list[str], *, create: bool = False) -> int:
        """A descriptor of the directory `parts` (``O_PATH``), each component opened without
        following links; with `create`, missing ones are made with the default owner and
        mode. Raises 404 for a missing one, 400 for a link or a non-directory."""
        fd = self._open_root()
        for index, name in enumerate(parts):
            fd = self._step(fd, name, parts[: index + 1], create)
        return fd

    def _step(self, fd: int, name: str, parts: list[str], create: bool) -> int:
        """Open directory `name` in `fd`, making it first when `create`; `fd` is closed
        whatever happens."""
        try:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                child = self._mkdir_at(fd, name, SANDBOX_UID, SANDBOX_GID, DEFAULT_DIR_MODE, parts)
            except OSError as exc:
                if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                    raise self._not_a_directory(fd, name, parts) from None
                raise
        except OSError as exc:
            raise _os_error(exc, parts) from None
        finally:
            os.close(fd)
        return child

    def _not_a_directory(self, fd: int, name: str, parts: list[str]) -> VolumeFileError:
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError as exc:
            return _os_error(exc, parts)
        if stat_module.S_ISLNK(info.st_mode):
            return VolumeFileError(
                400, f"path: {_display(parts)} is a symbolic link, which is not followed"
            )
        return VolumeFileError(400, f"path: {_display(parts)} is not a directory")

    def _mkdir_at(self, fd: int, name: str, uid: int, gid: int, mode: int, parts: list[str]) -> int:
        """Make directory `name` in `fd` owned by `uid`:`gid` with `mode` and open it; an
        existing directory there (made concurrently) is opened instead."""
        try:
            os.mkdir(name, 0o700, dir_fd=fd)
            made = True
        except FileExistsError:
            made = False
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                raise self._not_a_directory(fd, name, parts) from None
            raise
        if made:
            try:
                _set_owner_mode(child, uid, gid, mode)
            except BaseException:
                os.close(child)
                raise
        return child

    def _parent(self, path: str, *, create: bool = False) -> tuple[int, list[str]]:
        """The parent directory's descriptor and the components of `path` (not the root)."""
        parts = split_path(path)
        if not parts:
            raise VolumeFileError(400, "path: must name an entry inside the volume, not its root")
        return self._open_dir(parts[:-1], create=create), parts

    def _stat_at(self, fd: int, name: str, parts: list[str]) -> EntryStat:
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            target = os.readlink(name, dir_fd=fd) if stat_module.S_ISLNK(info.st_mode) else None
        except OSError as exc:
            raise _os_error(exc, parts) from None
        return self._entry(info, parts, target)

    @staticmethod
    def _entry(info: os.stat_result, parts: list[str], target: str | None) -> EntryStat:
        kind = _kind(info.st_mode)
        return EntryStat(
            name=parts[-1] if parts else "/",
            type=kind,
            path=_display(parts),
            size=0 if kind == "directory" else info.st_size,
            mode=stat_module.S_IMODE(info.st_mode),
            uid=info.st_uid,
            gid=info.st_gid,
            atime=_time(info.st_atime),
            mtime=_time(info.st_mtime),
            ctime=_time(info.st_ctime),
            target=target,
        )

    # -- operations ------------------------------------------------------------------

    def stat(self, path: str) -> EntryStat:
        """The entry at `path`; a symbolic link is described, not followed."""
        parts = split_path(path)
        if not parts:
            fd = self._open_root()
            try:
                return self._entry(os.fstat(fd), [], None)
            finally:
                os.close(fd)
        parent, parts = self._parent(path)
        try:
            return self._stat_at(parent, parts[-1], parts)
        finally:
            os.close(parent)

    def list_dir(self, path: str, depth: int = 1) -> list[EntryStat]:
        """The entries under directory `path`, `depth` levels deep (1: its children), each
        directory's entries after it, by name; links are listed, never entered."""
        if not 1 <= depth <= MAX_DEPTH:
            raise VolumeFileError(400, f"depth: must be between 1 and {MAX_DEPTH}, got {depth}")
        parts = split_path(path)
        fd = self._open_dir(parts)
        entries: list[EntryStat] = []
        try:
            for entry in self._walk(fd, parts, depth):
                if len(entries) == MAX_ENTRIES:
                    raise VolumeFileError(
                        400,
                        f"depth: the listing has over {MAX_ENTRIES} entries; "
                        "list fewer levels or a subdirectory",
                    )
                entries.append(entry)
        finally:
            os.close(fd)
        return entries

    def _walk(self, fd: int, parts: list[str], depth: int) -> Iterator[EntryStat]:
        try:
            readable = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        except OSError as exc:
            raise _os_error(exc, parts) from None
        try:
            names = sorted(os.listdir(readable))
        finally:
            os.close(readable)
        for name in names:
            child_parts = [*parts, name]
            try:
                entry = self._stat_at(fd, name, child_parts)
            except VolumeFileError as exc:
                if exc.status == 404:  # removed while listing
                    continue
                raise
            yield entry
            if depth > 1 and entry.type == "directory":
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError:  # replaced or removed while listing: not entered
                    continue
                try:
                    yield from self._walk(child, child_parts, depth - 1)
                finally:
                    os.close(child)

    def make_dir(
        self,
        path: str,
        *,
        uid: int | None = None,
        gid: int | None = None,
        mode: int | None = None,
        force: bool = False,
    ) -> EntryStat:
        """Make directory `path`. Without `force` its parent must exist (else 404) and the
        entry must not (else 409); with `force` missing parents are made and an existing
        directory is fine (left as it is)."""
        check_id("uid", uid)
        check_id("gid", gid)
        check_mode(mode)
        if not split_path(path):
            if force:
                return self.stat(path)
            raise VolumeFileError(409, "path: the volume root already exists")
        parent, parts = self._parent(path, create=force)
        name = parts[-1]
        try:
            try:
                os.mkdir(name, 0o700, dir_fd=parent)
            except FileExistsError:
                if force:
                    existing = self._stat_at(parent, name, parts)
                    if existing.type == "directory":
                        return existing
                raise VolumeFileError(409, f"path: {_display(parts)} already exists") from None
            child = os.open(name, _DIR_FLAGS, dir_fd=parent)
            try:
                _set_owner_mode(
                    child,
                    SANDBOX_UID if uid is None else uid,
                    SANDBOX_GID if gid is None else gid,
                    DEFAULT_DIR_MODE if mode is None else mode,
                )
                return self._entry(os.fstat(child), parts, None)
            finally:
                os.close(child)
        except OSError as exc:
            raise _os_error(exc, parts) from None
        finally:
            os.close(parent)

    def open_read(self, path: str) -> BinaryIO:
        """Regular file `path` open for reading (the caller closes it). A symbolic link is
        refused (400), as is anything but a regular file, which is never opened for reading
        (the inode is checked through an ``O_PATH`` descriptor, then reopened)."""
        parent, parts = self._parent(path)
        try:
            pinned = os.open(parts[-1], os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except OSError as exc:
            raise _os_error(exc, parts) from None
        finally:
            os.close(parent)
        try:
            kind = _kind(os.fstat(pinned).st_mode)
            if kind == "symlink":
                raise VolumeFileError(
                    400, f"path: {_display(parts)} is a symbolic link, which is not followed"
                )
            if kind != "file":
                raise VolumeFileError(400, f"path: {_display(parts)} is a {kind}, not a file")
            fd = os.open(f"/proc/self/fd/{pinned}", os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            raise _os_error(exc, parts) from None
        finally:
            os.close(pinned)
        return os.fdopen(fd, "rb", buffering=0)

    def read_chunks(self, path: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The content of file `path` in chunks of at most `chunk_size` bytes (opened now,
        before the first chunk is asked for)."""
        handle = self.open_read(path)

        def chunks() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(chunk_size):
                    yield chunk

        return chunks()

    def begin_write(
        self,
        path: str,
        *,
        uid: int | None = None,
        gid: int | None = None,
        mode: int | None = None,
        force: bool = False,
    ) -> PendingWrite:
        """Start writing file `path` (made or replaced when committed). Its parent must
        exist unless `force` (then missing parents are made, 404 otherwise); a directory
        there is 409, a symbolic link or other non-file 400. Owner and mode not given are
        kept from the file replaced, else the defaults."""
        check_id("uid", uid)
        check_id("gid", gid)
        check_mode(mode)
        parent, parts = self._parent(path, create=force)
        try:
            new_uid, new_gid, new_mode = self._write_metadata(parent, parts, uid, gid, mode)
            temp = f"{_TEMP_PREFIX}{secrets.token_hex(8)}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(temp, flags, 0o600, dir_fd=parent)
            try:
                os.fchown(fd, new_uid, new_gid)
                os.fchmod(fd, new_mode)
            except BaseException:
                os.close(fd)
                os.unlink(temp, dir_fd=parent)
                raise
        except OSError as exc:
            os.close(parent)
            raise _os_error(exc, parts) from None
        except BaseException:
            os.close(parent)
            raise
        return PendingWrite(self, parent, parts, fd, temp)

    def _write_metadata(
        self, parent: int, parts: list[str], uid: int | None, gid: int | None, mode: int | None
    ) -> tuple[int, int, int]:
        try:
            info = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return (
                SANDBOX_UID if uid is None else uid,
                SANDBOX_GID if gid is None else gid,
                DEFAULT_FILE_MODE if mode is None else mode,
            )
        kind = _kind(info.st_mode)
        if kind == "directory":
            raise VolumeFileError(409, f"path: {_display(parts)} is a directory")
        if kind == "symlink":
            raise VolumeFileError(
                400, f"path: {_display(parts)} is a symbolic link, which is not written through"
            )
        if kind != "file":
            raise VolumeFileError(400, f"path: {_display(parts)} is not a regular file")
        return (
            info.st_uid if uid is None else uid,
            info.st_gid if gid is None else gid,
            (stat_module.S_IMODE(info.st_mode) & ALLOWED_MODE_BITS) if mode is None else mode,
        )

    def write(
        self,
        path: str,
        chunks: Iterable[bytes],
        *,
        uid: int | None = None,
        gid: int | None = None,
        mode: int | None = None,
        force: bool = False,
    ) -> EntryStat:
        """Write `chunks` as file `path` (see `begin_write`) and return its entry."""
        pending = self.begin_write(path, uid=uid, gid=gid, mode=mode, force=force)
        try:
            for chunk in chunks:
                pending.write(chunk)
        except BaseException:
            pending.abort()
            raise
        return pending.commit()

    def remove(self, path: str) -> None:
        """Remove the entry at `path`: a directory with everything in it, a symbolic link
        itself (never its target)."""
        parent, parts = self._parent(path)
        name = parts[-1]
        try:
            info = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat_module.S_ISDIR(info.st_mode):
                _remove_tree(parent, name, parts)
            else:
                os.unlink(name, dir_fd=parent)
        except OSError as exc:
            raise _os_error(exc, parts) from None
        finally:
            os.close(parent)

    def update(
        self,
        path: str,
        *,
        uid: int | None = None,
        gid: int | None = None,
        mode: int | None = None,
    ) -> EntryStat:
        """Change the owner and/or mode of the entry at `path` (the root included). A
        symbolic link is refused (400), as is a file with other hard links."""
        check_id("uid", uid)
        check_id("gid", gid)
        check_mode(mode)
        parts = split_path(path)
        if parts:
            parent, parts = self._parent(path)
            try:
                fd = os.open(parts[-1], os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            except OSError as exc:
                raise _os_error(exc, parts) from None
            finally:
                os.close(parent)
        else:
            fd = self._open_root()
        try:
            info = os.fstat(fd)
            kind = _kind(info.st_mode)
            if kind == "symlink":
                raise VolumeFileError(
                    400, f"path: {_display(parts)} is a symbolic link, which is not followed"
                )
            if kind != "directory" and info.st_nlink > 1:
                raise VolumeFileError(
                    400, f"path: {_display(parts)} has other hard links; not changed"
                )
            _set_owner_mode(fd, uid, gid, mode)
            return self._entry(os.fstat(fd), parts, None)
        except OSError as exc:
            raise _os_error(exc, parts) from None
        finally:
            os.close(fd)


def remove_tree(directory: Path, name: str) -> None:
    """Remove `directory`/`name` and everything below it as `_remove_tree` does, however
    deep: a directory `MAX_DEPTH` levels down is moved up into `directory` under a name of
    its own and removed in turn. A missing entry is no error."""
    try:
        parent = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        pending = [name]
        while pending:
            with contextlib.suppress(FileNotFoundError):
                _remove_tree(parent, pending.pop(), [name], hoist_to=(parent, pending))
    finally:
        os.close(parent)


def _remove_tree(
    parent: int,
    name: str,
    parts: list[str],
    level: int = 0,
    hoist_to: tuple[int, list[str]] | None = None,
) -> None:
    """Remove directory `name` in `parent` with everything in it, never following a link
    and never opening anything but a directory. Past `MAX_DEPTH` levels: 400, or with
    `hoist_to` (a directory descriptor and a list), the deeper directory is moved there
    under a new name, added to the list, and left for the caller."""
    if level >= MAX_DEPTH:
        raise VolumeFileError(
            400, f"path: {_display(parts)} is more than {MAX_DEPTH} levels deep to remove"
        )
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    try:
        for child in os.listdir(fd):
            try:
                os.unlink(child, dir_fd=fd)
            except IsADirectoryError:
                if hoist_to is not None and level + 1 >= MAX_DEPTH:
                    top, later = hoist_to
                    moved = f"{_TEMP_PREFIX}{secrets.token_hex(8)}"
                    os.rename(child, moved, src_dir_fd=fd, dst_dir_fd=top)
                    later.append(moved)
                else:
                    _remove_tree(fd, child, [*parts, child], level + 1, hoist_to)
            except FileNotFoundError:  # removed meanwhile
                pass
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)
