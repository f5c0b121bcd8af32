"""Twin archives: what ``twinhub publish`` packs and the registry unpacks, and hostile archives
(links, '..', absolute names, devices, duplicates, gzip bombs, too many files) refused."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest
from twinhub.extensions.registry.archive import ArchiveError, Limits, digest, pack, unpack


def tar_gz(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, content in members:
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def regular(name: str, content: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    return info, content


def special(name: str, kind: bytes, target: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def test_pack_then_unpack_gives_the_same_files_and_leaves_caches_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "twin"
    (src / "data").mkdir(parents=True)
    (src / "twin.yaml").write_text("name: t\n")
    (src / "data" / "a.csv").write_text("time,x\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    data = pack(src)
    monkeypatch.setattr("time.time", lambda: 2e9)  # later: gzip would write this time
    os.utime(src / "twin.yaml", (2e9, 2e9))
    assert digest(data) == digest(pack(src))  # the same folder packs to the same hash
    names = unpack(data, tmp_path / "out")
    assert sorted(names) == ["data/a.csv", "twin.yaml"]
    assert (tmp_path / "out" / "data" / "a.csv").read_text() == "time,x\n"
    assert (tmp_path / "out" / "twin.yaml").stat().st_mode & 0o777 == 0o644


def test_pack_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "twin").mkdir()
    (tmp_path / "twin" / "secrets").symlink_to("/etc/shadow")
    with pytest.raises(ArchiveError, match="secrets: is a symbolic link"):
        pack(tmp_path / "twin")


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (regular("../evil.py"), r"'\.\.' is refused"),
        (regular("a/../../evil.py"), r"'\.\.' is refused"),
        (regular("/etc/cron.d/evil"), "absolute paths"),
        (regular("a\nb"), "control characters"),
        (regular("a\\..\\b"), "control characters or"),
        (regular("x" * 300), "names are 1-255"),
        (regular("/".join("d" * 20) + "/f"), "deeper than"),
        (special("link", tarfile.SYMTYPE, "/etc/passwd"), "no links"),
        (special("hard", tarfile.LNKTYPE, "twin.yaml"), "no links"),
        (special("dev", tarfile.CHRTYPE), "no links, devices"),
        (special("fifo", tarfile.FIFOTYPE), "no links, devices"),
    ],
)
def test_hostile_members_are_refused_and_nothing_escapes(
    tmp_path: Path, member: tuple, message: str
) -> None:
    data = tar_gz(regular("twin.yaml", b"name: t\n"), member)
    with pytest.raises(ArchiveError, match=message):
        unpack(data, tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()
    assert not any(p.is_symlink() for p in (tmp_path / "out").rglob("*"))


def test_a_member_twice_is_refused(tmp_path: Path) -> None:
    data = tar_gz(regular("model.py", b"good"), regular("model.py", b"evil"))
    with pytest.raises(ArchiveError, match="appears twice"):
        unpack(data, tmp_path / "out")


def test_a_file_through_a_symlinked_folder_cannot_be_made(tmp_path: Path) -> None:
    # a link first, then a file below it: the link is refused before anything follows it
    data = tar_gz(special("d", tarfile.SYMTYPE, str(tmp_path)), regular("d/evil.py"))
    with pytest.raises(ArchiveError, match="no links"):
        unpack(data, tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()


def test_gzip_bomb_stops_at_the_limit(tmp_path: Path) -> None:
    # 200 MiB of zeros declared as one file, a few hundred KiB compressed
    info = tarfile.TarInfo("zeros.bin")
    info.size = 200 * 2**20
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    bomb = gzip.compress(raw.getvalue(), compresslevel=9)
    assert len(bomb) < 2**20
    limits = Limits(max_unpacked=2**20)
    with pytest.raises(ArchiveError, match="more than 1 MiB"):
        unpack(bomb, tmp_path / "out", limits)
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written <= 2**20


def test_too_many_files_and_too_large_uploads_are_refused(tmp_path: Path) -> None:
    many = tar_gz(*(regular(f"f{i}") for i in range(11)))
    with pytest.raises(ArchiveError, match="more than 10 members"):
        unpack(many, tmp_path / "a", Limits(max_files=10))
    with pytest.raises(ArchiveError, match="larger than"):
        unpack(many, tmp_path / "b", Limits(max_bytes=100))


@pytest.mark.parametrize(
    "data", [b"", b"PK\x03\x04zip", b"\x1f\x8b" + b"\xff" * 100, gzip.compress(b"not a tar" * 99)]
)
def test_garbage_is_a_clear_refusal(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ArchiveError, match=r"\(archive\)"):
        unpack(data, tmp_path / "out")
