"""Encryption of the objects of a backup: AES-256-GCM over fixed-size chunks, streamed.

The key of a store is derived from its password with scrypt and a random salt kept in each
backup's index; every object gets its own key (HKDF over the object's name), so chunk counters
can start at zero in each. A chunk's nonce is its counter and a final flag (the STREAM
construction): a reordered, dropped or appended chunk fails authentication, and a stream that
ends without its final chunk is truncated. Nothing here touches a file or the network.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

CIPHER: Final = "AES-256-GCM-STREAM"
CHUNK_SIZE: Final = 1024 * 1024  # plaintext bytes per chunk; the ciphertext adds a 16-byte tag
TAG_SIZE: Final = 16
MAGIC: Final = b"CLDRENC1"  # the first bytes of every encrypted object
SCRYPT_N: Final = 2**15
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1


class DecryptionError(Exception):
    """The stored bytes do not decrypt: a wrong key, a corrupted or a truncated object."""


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class KeyParameters:
    """What the index records so that the same password gives the same key again."""

    salt: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    @classmethod
    def new(cls) -> KeyParameters:
        return cls(os.urandom(16))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": "scrypt",
            "salt": base64.b64encode(self.salt).decode(),
            "n": self.n,
            "r": self.r,
            "p": self.p,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyParameters:
        if data.get("name") != "scrypt":
            raise DecryptionError(f"unknown key derivation {data.get('name')!r}")
        return cls(base64.b64decode(data["salt"]), int(data["n"]), int(data["r"]), int(data["p"]))


@dataclass(frozen=True)
class BackupKey:
    """The key of one backup: derived once from the password, then one subkey per object."""

    master: bytes
    parameters: KeyParameters

    @classmethod
    def derive(cls, password: str, parameters: KeyParameters) -> BackupKey:
        kdf = Scrypt(salt=parameters.salt, length=32, n=parameters.n, r=parameters.r, p=parameters.p)
        return cls(kdf.derive(password.encode()), parameters)

    def check_value(self) -> str:
        """A value the index keeps to tell a wrong password from a corrupted object."""
        return base64.b64encode(hmac.new(self.master, b"key-check", hashlib.sha256).digest()).decode()

    def matches(self, check_value: str) -> bool:
        return hmac.compare_digest(self.check_value(), check_value)

    def object_key(self, object_name: str) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=object_name.encode()).derive(
            self.master
        )


def _nonce(counter: int, final: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


class Encryptor:
    """Plaintext in through `update`, ciphertext out; `finish` seals the final chunk."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self._pending = bytearray()
        self._counter = 0
        self._started = False

    def update(self, data: bytes) -> bytes:
        self._pending += data
        out = [] if self._started else [MAGIC]
        self._started = True
        # Keep at least one byte back: the final chunk must be sealed with the final flag.
        full = (len(self._pending) - 1) // CHUNK_SIZE
        if full:
            with memoryview(self._pending) as view:
                out += [
                    self._seal(view[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE], final=False) for i in range(full)
                ]
                rest = bytearray(view[full * CHUNK_SIZE :])
            self._pending = rest
        return b"".join(out)

    def finish(self) -> bytes:
        out = bytearray() if self._started else bytearray(MAGIC)
        self._started = True
        out += self._seal(bytes(self._pending), final=True)
        self._pending.clear()
        return bytes(out)

    def _seal(self, chunk: bytes | memoryview, *, final: bool) -> bytes:
        sealed = self._aead.encrypt(_nonce(self._counter, final), chunk, None)
        self._counter += 1
        return sealed


def decrypt_chunks(source: Readable, key: bytes) -> Iterator[bytes]:
    """The plaintext of an encrypted object, chunk by chunk; DecryptionError on any tampering."""
    aead = AESGCM(key)
    if read_exactly(source, len(MAGIC)) != MAGIC:
        raise DecryptionError("not an encrypted backup object (its header is wrong)")
    sealed_size = CHUNK_SIZE + TAG_SIZE
    counter = 0
    current = read_exactly(source, sealed_size)
    while True:
        following = read_exactly(source, sealed_size) if len(current) == sealed_size else b""
        final = not following
        if len(current) < TAG_SIZE:
            raise DecryptionError("the object is truncated")
        try:
            yield aead.decrypt(_nonce(counter, final), current, None)
        except InvalidTag:
            if final and len(current) == sealed_size:
                raise DecryptionError("the object is truncated (its final chunk is missing)") from None
            raise DecryptionError("a chunk does not decrypt: wrong key, or the object is corrupted") from None
        if final:
            return
        counter += 1
        current = following


def read_exactly(source: Readable, size: int) -> bytes:
    parts = bytearray()
    while len(parts) < size:
        data = source.read(size - len(parts))
        if not data:
            break
        parts += data
    return bytes(parts)


class DecryptingReader:
    """A file-like `read` over `decrypt_chunks`, for tarfile and for a subprocess's stdin."""

    def __init__(self, source: Readable, key: bytes) -> None:
        self._chunks = decrypt_chunks(source, key)
        self._chunk = b""
        self._offset = 0  # small reads (tarfile reads 10 KiB) must not copy the 1 MiB chunk each time

    def read(self, size: int = -1, /) -> bytes:
        parts: list[bytes] = []
        wanted = size
        while wanted != 0:
            if self._offset >= len(self._chunk):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._chunk, self._offset = chunk, 0
                continue
            end = len(self._chunk) if wanted < 0 else min(len(self._chunk), self._offset + wanted)
            parts.append(self._chunk[self._offset : end])
            if wanted > 0:
                wanted -= end - self._offset
            self._offset = end
        return b"".join(parts)
