"""An S3-compatible bucket as a backup store: streamed uploads and downloads, one object written once.

Uploads go out in parts as they are produced (a multipart upload with a few parts in flight),
so memory stays bounded whatever the size of the data. Every object's SHA-256 is computed on
the way, for the index. The index of a backup is written with `If-None-Match: *`: it is written
once and last, so a backup that was killed never looks complete.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

PART_SIZE: Final = 8 * 1024 * 1024  # S3 parts are at least 5 MiB, at most 10,000 of them: see part_size
PARTS_IN_FLIGHT: Final = 3  # peak memory ~ (PARTS_IN_FLIGHT + 2) * part size
READ_SIZE: Final = 1024 * 1024


class StoreError(Exception):
    """The store refused or could not be reached; the message says which, without a secret."""


class AlreadyExists(StoreError):
    """An object that is written once already exists."""


@dataclass(frozen=True)
class StoreLocation:
    """Where a store is and how to log in: from a BackupStore and its credentials Secret."""

    endpoint: str
    bucket: str
    prefix: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"

    def __repr__(self) -> str:  # never the secret, should a location reach a log line
        return f"StoreLocation({self.endpoint!r}, bucket={self.bucket!r}, prefix={self.prefix!r})"


def describe(error: Exception) -> str:
    """One line for a condition: the S3 error code and message, or the connection failure."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        return f"{code}: {details.get('Message') or code}".strip(": ")
    return str(error)


class S3Store:
    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self._client = boto3.client(
            "s3",
            endpoint_url=location.endpoint,
            region_name=location.region,
            aws_access_key_id=location.access_key_id,
            aws_secret_access_key=location.secret_access_key,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=10,
                read_timeout=120,
                max_pool_connections=PARTS_IN_FLIGHT + 2,
            ),
        )

    def key(self, name: str) -> str:
        return self.location.prefix + name

    def probe(self) -> None:
        """Write, read and delete a small object under the prefix: can the operator use the store?"""
        name = self.key(".cloudron-operator-probe")
        try:
            self._client.put_object(Bucket=self.location.bucket, Key=name, Body=b"probe")
            self._client.get_object(Bucket=self.location.bucket, Key=name)["Body"].read()
            self._client.delete_object(Bucket=self.location.bucket, Key=name)
        except (ClientError, BotoCoreError) as error:
            raise StoreError(describe(error)) from error

    def writer(self, name: str) -> ObjectWriter:
        return ObjectWriter(self._client, self.location.bucket, self.key(name))

    def put_once(self, name: str, body: bytes) -> None:
        """Write an object that must not exist yet; AlreadyExists if it does."""
        try:
            self._client.put_object(
                Bucket=self.location.bucket, Key=self.key(name), Body=body, IfNoneMatch="*"
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                raise AlreadyExists(f"{name} already exists in the store") from error
            raise StoreError(describe(error)) from error
        except BotoCoreError as error:
            raise StoreError(describe(error)) from error

    def read(self, name: str) -> bytes | None:
        """A whole small object (an index), or None when there is none."""
        try:
            return bytes(
                self._client.get_object(Bucket=self.location.bucket, Key=self.key(name))["Body"].read()
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise StoreError(describe(error)) from error
        except BotoCoreError as error:
            raise StoreError(describe(error)) from error

    def open(self, name: str) -> Any:
        """A streamed body with `read(n)`; StoreError if the object is missing."""
        try:
            return self._client.get_object(Bucket=self.location.bucket, Key=self.key(name))["Body"]
        except (ClientError, BotoCoreError) as error:
            raise StoreError(f"{name}: {describe(error)}") from error

    def names(self, under: str = "") -> Iterator[str]:
        """Every object name under the prefix (+ `under`), relative to the prefix."""
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self.key(under)):
                for item in page.get("Contents", []):
                    yield str(item["Key"])[len(self.location.prefix) :]
        except (ClientError, BotoCoreError) as error:
            raise StoreError(describe(error)) from error

    def delete_under(self, under: str) -> int:
        """Delete every object under `under` (a backup's folder); how many there were."""
        names = list(self.names(under))
        for start in range(0, len(names), 1000):
            batch = [{"Key": self.key(name)} for name in names[start : start + 1000]]
            try:
                self._client.delete_objects(
                    Bucket=self.location.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except (ClientError, BotoCoreError) as error:
                raise StoreError(describe(error)) from error
        return len(names)


def part_size(parts_sent: int) -> int:
    """8 MiB for the first 1,000 parts, 16 MiB for the next 1,000...: 430 GiB fit in 10,000 parts,
    and memory grows only for objects that large."""
    return PART_SIZE * (1 + parts_sent // 1000)


class ObjectWriter:
    """A file-like sink: `write` buffers a part, full parts upload in the background, `close` commits.

    An object smaller than one part is a single PUT. `abort` (or an exception inside `with`)
    leaves no object behind.
    """

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._buffer = bytearray()
        self._digest = hashlib.sha256()
        self.size = 0
        self._upload_id: str | None = None
        self._parts: list[Future[dict[str, Any]]] = []
        self._slots = threading.BoundedSemaphore(PARTS_IN_FLIGHT)
        self._pool: ThreadPoolExecutor | None = None

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self.size += len(data)
        self._buffer += data
        if len(self._buffer) >= part_size(len(self._parts)):
            part, self._buffer = self._buffer, bytearray()  # handed over, not copied
            self._send_part(part)
        return len(data)

    def close(self) -> None:
        try:
            if self._upload_id is None:
                self._client.put_object(Bucket=self._bucket, Key=self._key, Body=self._buffer)
                return
            if self._buffer:
                part, self._buffer = self._buffer, bytearray()
                self._send_part(part)
            parts = [future.result() for future in self._parts]
            self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": parts}
            )
        except (ClientError, BotoCoreError) as error:
            self.abort()
            raise StoreError(f"{self._key}: {describe(error)}") from error
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    def abort(self) -> None:
        if self._upload_id is not None:
            # If this fails the upload is abandoned either way; a lifecycle rule reaps what is left.
            with suppress(ClientError, BotoCoreError):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )
            self._upload_id = None

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    def _send_part(self, body: bytearray) -> None:
        if self._upload_id is None:
            try:
                self._upload_id = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)[
                    "UploadId"
                ]
            except (ClientError, BotoCoreError) as error:
                raise StoreError(f"{self._key}: {describe(error)}") from error
            self._pool = ThreadPoolExecutor(PARTS_IN_FLIGHT, thread_name_prefix="upload")
        assert self._pool is not None
        for done in [f for f in self._parts if f.done()]:
            done.result()  # surface a failed part now, not at the end
        self._slots.acquire()
        number = len(self._parts) + 1
        future = self._pool.submit(self._upload_part, number, body)
        future.add_done_callback(lambda _: self._slots.release())
        self._parts.append(future)

    def _upload_part(self, number: int, body: bytearray) -> dict[str, Any]:
        answer = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}
