"""A twin folder as a published archive: packed by ``twinhub publish``, checked by the registry.

An archive is a gzip-compressed tar of regular files and folders. Everything a hostile archive
could try is refused with a message naming the member, before or while it is read, in one
streaming pass whose work is bounded by the limits below (never by what the archive claims):

* more than ``max_bytes`` compressed, more than ``max_unpacked`` bytes once decompressed (a gzip
  bomb stops at the limit), more than ``max_files`` members;
* links (symbolic or hard), devices, FIFOs; absolute names, ``..``, empty or NUL/control
  characters in names, names longer than ``MAX_NAME`` characters or deeper than ``MAX_DEPTH``;
* the same name twice (a later member would replace an earlier checked one).

:func:`unpack` writes only regular files (mode 0644, or 0755 when executable) and folders
(0755) below the destination, which must be empty; nothing of the archive's owners, modes or
times is kept. :func:`pack` builds the archive from a folder with the same rules, so a twin
that packs is a twin the registry unpacks.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_BYTES = 20 * 1024 * 1024
"""Compressed size of an upload; a twin's code and sample data are far below."""
MAX_UNPACKED = 100 * 1024 * 1024
MAX_FILES = 2000
MAX_NAME = 255
MAX_DEPTH = 16
SKIPPED = {"__pycache__", ".git", ".ipynb_checkpoints", ".pytest_cache", ".venv", "build"}
"""Folders ``pack`` leaves out: caches and environments are rebuilt, never published."""
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


class ArchiveError(ValueError):
    """The archive (or folder) is refused; ``field`` names the member or the limit."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_unpacked: int = MAX_UNPACKED
    max_files: int = MAX_FILES


def digest(data: bytes) -> str:
    """The content hash of an archive: what names a published version for good."""
    return hashlib.sha256(data).hexdigest()


def check_name(name: str) -> str:
    """The member's relative POSIX path, or ArchiveError (nothing is touched)."""
    if not name or len(name) > MAX_NAME:
        raise ArchiveError(name[:80] or "(empty name)", f"names are 1-{MAX_NAME} characters")
    if _BAD_CHARS.search(name):
        raise ArchiveError(repr(name[:80]), "control characters or '\\' in a name")
    path = PurePosixPath(name)
    if path.is_absolute():
        raise ArchiveError(name, "absolute paths are refused")
    parts = [p for p in path.parts if p != "."]
    if ".." in parts:
        raise ArchiveError(name, "'..' is refused")
    if not parts:
        raise ArchiveError(name, "names the archive's root")
    if len(parts) > MAX_DEPTH:
        raise ArchiveError(name, f"deeper than {MAX_DEPTH} folders")
    return "/".join(parts)


class _Bounded(io.RawIOBase):
    """The compressed bytes, decompressed with a hard cap on what comes out."""

    def __init__(self, data: bytes, cap: int):
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip only
        self._data = memoryview(data)
        self._pos = 0
        self._pending = b""
        self._out = 0
        self._cap = cap

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            if self._inflate.eof:
                return 0
            if self._inflate.unconsumed_tail:
                source = self._inflate.unconsumed_tail
            elif self._pos < len(self._data):
                source = self._data[self._pos : self._pos + 65536]
                self._pos += len(source)
            else:
                return 0  # truncated: tarfile says so
            try:
                self._pending = self._inflate.decompress(source, 65536)
            except zlib.error as e:
                raise ArchiveError("(archive)", f"not a gzip-compressed tar: {e}") from None
            self._out += len(self._pending)
            if self._out > self._cap:
                raise ArchiveError(
                    "(archive)", f"more than {self._cap // 2**20} MiB once decompressed"
                )
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def unpack(data: bytes, dest: Path, limits: Limits = Limits()) -> list[str]:
    """Check the archive and write its files below ``dest`` (an empty folder); their names.

    On any refusal, what was written is left for the caller to remove (it unpacks into a
    fresh folder and deletes the folder on error).
    """
    if len(data) > limits.max_bytes:
        raise ArchiveError("(archive)", f"larger than {limits.max_bytes // 2**20} MiB")
    if data[:2] != b"\x1f\x8b":
        raise ArchiveError("(archive)", "not a gzip-compressed tar (.tar.gz)")
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ArchiveError("(destination)", "must be empty")
    seen: set[str] = set()
    names: list[str] = []
    total = 0
    # tar's headers and padding (at most 1 KiB a member) come on top of the files
    cap = limits.max_unpacked + 1024 * (limits.max_files + 64)
    stream = io.BufferedReader(_Bounded(data, cap), 65536)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if len(seen) >= limits.max_files:
                    raise ArchiveError("(archive)", f"more than {limits.max_files} members")
                if member.isdir() and member.name in (".", "./"):
                    continue  # the folder itself, as `tar -C folder .` writes it
                name = check_name(member.name)
                if name in seen:
                    raise ArchiveError(name, "appears twice in the archive")
                seen.add(name)
                target = dest / name
                if member.isdir():
                    target.mkdir(mode=0o755, parents=True, exist_ok=True)
                    continue
                if not member.isreg():
                    raise ArchiveError(name, "only regular files and folders (no links, devices)")
                total += member.size
                if total > limits.max_unpacked:
                    raise ArchiveError(
                        "(archive)", f"more than {limits.max_unpacked // 2**20} MiB of files"
                    )
                if target.parent.exists() and not target.parent.is_dir():
                    raise ArchiveError(name, "lies below a file")
                target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                source = tar.extractfile(member)
                executable = member.mode & 0o111
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                with os.fdopen(fd, "wb") as out:
                    while chunk := source.read(65536):
                        out.write(chunk)
                os.chmod(target, 0o755 if executable else 0o644)
                names.append(name)
    except tarfile.TarError as e:
        raise ArchiveError("(archive)", f"not a readable tar: {e}") from None
    except (EOFError, gzip.BadGzipFile, OSError) as e:
        if isinstance(e, ArchiveError):
            raise
        raise ArchiveError("(archive)", f"cannot be read: {e}") from None
    if not names:
        raise ArchiveError("(archive)", "holds no files")
    return names


def pack(folder: Path, limits: Limits = Limits()) -> bytes:
    """The folder as a .tar.gz with the checks of :func:`unpack` (refusing links, limits)."""
    folder = folder.resolve()
    buffer = io.BytesIO()
    count = 0
    total = 0
    # no time in the gzip header either: the same folder packs to the same bytes (and hash)
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w") as tar,
    ):
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not d.endswith(".egg-info"))
            for entry in dirs + sorted(files):
                path = Path(root) / entry
                name = check_name(path.relative_to(folder).as_posix())
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode):
                    raise ArchiveError(name, "is a symbolic link: copy the file in instead")
                if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    raise ArchiveError(name, "only regular files and folders can be published")
                if entry.endswith(".pyc"):
                    continue
                count += 1
                if count > limits.max_files:
                    raise ArchiveError("(folder)", f"more than {limits.max_files} files")
                info = tar.gettarinfo(str(path), arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if stat.S_ISDIR(mode):
                    tar.addfile(info)
                    continue
                total += info.size
                if total > limits.max_unpacked:
                    raise ArchiveError(
                        "(folder)", f"more than {limits.max_unpacked // 2**20} MiB of files"
                    )
                with path.open("rb") as f:
                    tar.addfile(info, f)
    data = buffer.getvalue()
    if len(data) > limits.max_bytes:
        raise ArchiveError("(folder)", f"larger than {limits.max_bytes // 2**20} MiB packed")
    return data
