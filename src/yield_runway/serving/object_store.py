"""Read-only files for the API: local paths with plain Python, `s3://bucket/key` with botocore.

Only what ArtefactStore and `release.read_release` call: `cat_file`, `exists`, `info` and
`open(path, "rb")`. No s3fs, aiobotocore or fsspec, so the API's Lambda zip carries botocore
alone. Every read goes to the store (no cache): a warm container sees a release uploaded after
it started.
"""

from __future__ import annotations

import io
import os
from typing import Any, BinaryIO

S3_SCHEME = "s3://"
# The error codes S3 answers for an object that is not there (GET, then HEAD).
_MISSING = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "Forbidden"}


def _read_only(mode: str) -> None:
    """Refuse any mode but binary reading: the API never writes."""
    if mode != "rb":
        raise ValueError(f"read-only store: open(path, {mode!r}) is not supported, only 'rb'")


def _error_type(code: str) -> type[OSError]:
    """The built-in error for an S3 error code, as s3fs raised it."""
    if code in _MISSING:
        return FileNotFoundError
    if code in _DENIED:
        return PermissionError
    return OSError


class LocalStore:
    """Files on a local filesystem, by absolute path."""

    def cat_file(self, path: str) -> bytes:
        """The file's bytes."""
        with open(path, "rb") as handle:
            return handle.read()

    def exists(self, path: str) -> bool:
        """Whether a file or folder is there."""
        return os.path.exists(path)

    def info(self, path: str) -> dict[str, Any]:
        """Size and modification time (the version tag of a local file)."""
        stat = os.stat(path)
        kind = "directory" if os.path.isdir(path) else "file"
        return {"name": path, "size": stat.st_size, "mtime": stat.st_mtime, "type": kind}

    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        """The file, open for binary reading."""
        _read_only(mode)
        return open(path, "rb")  # noqa: SIM115 - the caller closes it


class S3Store:
    """Objects on S3, by `bucket/key` (or `s3://bucket/key`), through one botocore client.

    The client finds its endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL), region and
    credentials (Lambda's environment) itself. A missing object is FileNotFoundError, a denied
    read PermissionError and any other failure OSError, as s3fs raised them, so the release's
    checks name the file that could not be read.
    """

    def __init__(self, client: Any = None) -> None:
        self._client = client if client is not None else _s3_client()

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        """(bucket, key) of a path."""
        bucket, _, key = path.removeprefix(S3_SCHEME).partition("/")
        return bucket, key

    def _call(self, operation: str, path: str) -> dict[str, Any]:
        """One S3 call on the path's object, its errors as the built-in OSError types."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = self._split(path)
        try:
            return getattr(self._client, operation)(Bucket=bucket, Key=key)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code"))
            raise _error_type(code)(f"{S3_SCHEME}{bucket}/{key}: {error}") from error
        except BotoCoreError as error:  # no connection, a read timeout, no credentials...
            raise OSError(f"{S3_SCHEME}{bucket}/{key}: {error}") from error

    def cat_file(self, path: str) -> bytes:
        """The object's bytes."""
        from botocore.exceptions import BotoCoreError

        body = self._call("get_object", path)["Body"]
        try:
            return body.read()
        except BotoCoreError as error:  # the connection dropped mid-body, a read timeout...
            raise OSError(f"{S3_SCHEME}{path.removeprefix(S3_SCHEME)}: {error}") from error
        finally:
            body.close()

    def exists(self, path: str) -> bool:
        """Whether an object (not a prefix) is at the path."""
        try:
            self._call("head_object", path)
        except FileNotFoundError:
            return False
        return True

    def info(self, path: str) -> dict[str, Any]:
        """Size, ETag (the version tag of an object) and last modification."""
        head = self._call("head_object", path)
        return {
            "name": path.removeprefix(S3_SCHEME),
            "size": head["ContentLength"],
            "ETag": head["ETag"],
            "LastModified": head["LastModified"],
            "type": "file",
        }

    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        """The object's bytes as a file (the API's files are small: read whole)."""
        _read_only(mode)
        return io.BytesIO(self.cat_file(path))


def _s3_client() -> Any:
    """A botocore S3 client with the standard retry mode (throttling and 5xx, backed off)."""
    import botocore.session  # imported for S3 roots only: it costs a cold start ~0.1 s
    from botocore.config import Config

    session = botocore.session.get_session()
    return session.create_client("s3", config=Config(retries={"mode": "standard"}))


def object_store(uri: str) -> tuple[LocalStore | S3Store, str]:
    """The store for a data root and the root as its paths start (like fsspec's url_to_fs)."""
    if uri.startswith(S3_SCHEME):
        return S3Store(), uri.removeprefix(S3_SCHEME).rstrip("/")
    local = uri.removeprefix("file://")
    return LocalStore(), os.path.abspath(local)
