"""The backup format's pure parts: chunked encryption, the index, and what extraction refuses."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from cloudron_operator.backup.archive import ArchiveError, extract_tree, write_tree
from cloudron_operator.backup.crypto import (
    CHUNK_SIZE,
    MAGIC,
    TAG_SIZE,
    BackupKey,
    DecryptingReader,
    DecryptionError,
    Encryptor,
    KeyParameters,
)
from cloudron_operator.backup.index import AppRecord, BackupIndex, BackupRecord, IndexError_, StoredObject

pytestmark = pytest.mark.unit
FAST = KeyParameters(b"0123456789abcdef", n=2**10)  # a cheap scrypt: these tests check the format


def _encrypt(data: bytes, key: bytes, write_size: int = 65536) -> bytes:
    encryptor = Encryptor(key)
    out = b"".join(encryptor.update(data[i : i + write_size]) for i in range(0, len(data), write_size))
    return out + encryptor.finish()


def _decrypt(sealed: bytes, key: bytes, read_size: int = 10240) -> bytes:
    reader = DecryptingReader(io.BytesIO(sealed), key)
    return b"".join(iter(lambda: reader.read(read_size), b""))


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7])
def test_what_is_encrypted_decrypts_to_the_same_bytes(size: int) -> None:
    key = BackupKey.derive("pw", FAST).object_key("files.tar")
    data = os.urandom(size)
    sealed = _encrypt(data, key)
    assert sealed.startswith(MAGIC)
    chunks = max(1, -(-size // CHUNK_SIZE))
    assert len(sealed) == len(MAGIC) + size + chunks * TAG_SIZE
    assert _decrypt(sealed, key) == data


def test_each_object_has_its_own_key_and_the_password_gives_it_again() -> None:
    key = BackupKey.derive("pw", FAST)
    assert key.object_key("a") != key.object_key("b")
    assert BackupKey.derive("pw", FAST).object_key("a") == key.object_key("a")
    assert key.matches(BackupKey.derive("pw", FAST).check_value())
    assert not key.matches(BackupKey.derive("other", FAST).check_value())


def _sealed_three_chunks() -> tuple[bytes, bytes]:
    key = BackupKey.derive("pw", FAST).object_key("x")
    return _encrypt(os.urandom(2 * CHUNK_SIZE + 100), key), key


def test_a_stream_cut_at_a_chunk_boundary_is_truncated() -> None:
    sealed, key = _sealed_three_chunks()
    cut = len(MAGIC) + 2 * (CHUNK_SIZE + TAG_SIZE)
    with pytest.raises(DecryptionError, match="truncated"):
        _decrypt(sealed[:cut], key)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2] + bytes([b[len(b) // 2] ^ 1]) + b[len(b) // 2 + 1 :],  # a flipped bit
        lambda b: b[:8] + b[8 + CHUNK_SIZE + TAG_SIZE :],  # the first chunk dropped
        lambda b: b[:8] + b[8 + CHUNK_SIZE + TAG_SIZE : 8 + 2 * (CHUNK_SIZE + TAG_SIZE)] + b[8:],  # swapped
        lambda b: b[:-1],  # the last byte gone
        lambda b: b"NOTMAGIC" + b[8:],
    ],
)
def test_a_damaged_stream_does_not_decrypt(damage: object) -> None:
    sealed, key = _sealed_three_chunks()
    with pytest.raises(DecryptionError):
        _decrypt(damage(sealed), key)  # type: ignore[operator]


def test_a_wrong_key_does_not_decrypt() -> None:
    sealed, _ = _sealed_three_chunks()
    with pytest.raises(DecryptionError, match="wrong key"):
        _decrypt(sealed, BackupKey.derive("other", FAST).object_key("x"))


def test_the_index_reads_back_what_it_wrote_and_refuses_another_format() -> None:
    index = BackupIndex(
        BackupRecord("b1", "team", "uid-b", "manual", "2026-12-03T00:00:00Z", "2026-12-03T00:01:00Z"),
        AppRecord("wiki", "team", "uid-a", "1.2.0", "img:1", {"id": "org.example"}, {"image": "img:1"}),
        (StoredObject("files.tar", "files", 10, "ab", 8), StoredObject("redis.keys", "redis", 5, "cd", 5)),
        {"cipher": "AES-256-GCM-STREAM"},
        {"count": 3},
    )
    assert BackupIndex.from_json(index.to_json()) == index
    assert index.size == 15
    assert index.contents == ["files", "redis"]
    with pytest.raises(IndexError_, match="unknown backup format"):
        BackupIndex.from_json(index.to_json().replace(b"cloudron-operator-backup/1", b"other/9"))
    with pytest.raises(IndexError_, match="not readable"):
        BackupIndex.from_json(b"{not json")


def _tar(*members: tuple[str, bytes | None, str | None]) -> io.BytesIO:
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                archive.addfile(info)
            else:
                info.size = len(data or b"")
                archive.addfile(info, io.BytesIO(data or b""))
    stream.seek(0)
    return stream


@pytest.mark.parametrize(
    "members",
    [
        [("data/../../etc/passwd", b"x", None)],
        [("/data/abs", b"x", None)],
        [("data/escape", None, "/etc"), ("data/escape/passwd", b"x", None)],
        [("elsewhere/file", b"x", None)],
    ],
)
def test_extraction_refuses_names_outside_the_app_folders(
    tmp_path: Path, members: list[tuple[str, bytes | None, str | None]]
) -> None:
    with pytest.raises(ArchiveError):
        extract_tree(_tar(*members), {"data": tmp_path})
    assert not Path("/etc/passwd-x").exists()


def test_a_tree_extracts_as_it_was_written(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "deep" / "er").mkdir(parents=True)
    (source / "deep" / "er" / "file").write_bytes(b"bytes")
    (source / ".cloudron-restore").mkdir()  # a restore's working folder is not the app's
    os.symlink("/app/code/x", source / "link")
    os.chmod(source / "deep", 0o711)  # noqa: S103 - a mode to restore
    os.utime(source / "deep", ns=(1_600_000_000_123_456_789,) * 2)
    os.utime(source / "link", ns=(1_500_000_000_000_000_001,) * 2, follow_symlinks=False)
    stream = io.BytesIO()
    report = write_tree(stream, {"data": source}, skip={".cloudron-restore"})
    assert report.files == 1 and report.bytes == 5
    stream.seek(0)
    target = tmp_path / "target"
    target.mkdir()
    extract_tree(stream, {"data": target})
    assert (target / "deep" / "er" / "file").read_bytes() == b"bytes"
    assert os.readlink(target / "link") == "/app/code/x"
    assert oct((target / "deep").stat().st_mode & 0o777) == "0o711"
    assert (target / "deep").stat().st_mtime_ns == 1_600_000_000_123_456_789, "to the nanosecond"
    assert (target / "link").lstat().st_mtime_ns == 1_500_000_000_000_000_001
    assert not (target / ".cloudron-restore").exists()
