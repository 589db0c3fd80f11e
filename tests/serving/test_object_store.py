"""The API's read-only store: local files and S3 objects (a local S3 server), read by value."""

from __future__ import annotations

import json
import os

import boto3
import pytest
from botocore.stub import Stubber

from tests.serving.events import upload_tree
from yield_runway.serving.artefacts import MARKET_PATH, ArtefactStore
from yield_runway.serving.object_store import LocalStore, S3Store, _s3_client, object_store

BUCKET = "yield-runway-store"


@pytest.fixture
def s3(s3_server):
    client = boto3.client("s3", endpoint_url=s3_server)
    client.create_bucket(Bucket=BUCKET)
    return client


def test_s3_objects_are_read_by_value_and_tagged_by_etag(s3):
    s3.put_object(Bucket=BUCKET, Key="prod/a.json", Body=b'{"v": 1}')
    store, root = object_store(f"s3://{BUCKET}/prod/")
    assert isinstance(store, S3Store) and root == f"{BUCKET}/prod"
    path = f"{root}/a.json"
    assert store.cat_file(path) == b'{"v": 1}'
    assert store.cat_file(f"s3://{path}") == b'{"v": 1}'
    assert store.exists(path) and not store.exists(f"{root}/b.json")
    with store.open(path, "rb") as handle:
        assert json.load(handle) == {"v": 1}
    first = store.info(path)
    assert first["size"] == 8
    assert first["ETag"] == s3.head_object(Bucket=BUCKET, Key="prod/a.json")["ETag"]
    s3.put_object(Bucket=BUCKET, Key="prod/a.json", Body=b'{"v": 22}')
    second = store.info(path)
    assert second["ETag"] != first["ETag"] and second["size"] == 9
    assert store.cat_file(path) == b'{"v": 22}'


@pytest.mark.parametrize("call", ["cat_file", "info", "open"])
def test_a_missing_s3_object_or_bucket_is_file_not_found(s3, call):
    store = S3Store()
    for path in (f"{BUCKET}/prod/missing.json", "no-such-bucket/prod/a.json"):
        with pytest.raises(FileNotFoundError, match="missing.json|no-such-bucket"):
            getattr(store, call)(path)
    assert not store.exists("no-such-bucket/prod/a.json")


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("AccessDenied", 403, PermissionError),
        ("SlowDown", 503, OSError),
        ("NoSuchKey", 404, FileNotFoundError),
    ],
)
def test_s3_errors_arrive_as_the_os_errors_the_release_checks_expect(
    code, status, error, monkeypatch
):
    # The stub answers before any request is signed or sent: no server, dummy credentials.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = _s3_client()
    with Stubber(client) as stub:
        stub.add_client_error("get_object", service_error_code=code, http_status_code=status)
        with pytest.raises(error, match=code) as raised:
            S3Store(client).cat_file(f"{BUCKET}/prod/manifest.json")
    # A denied or throttled read is not "missing": only a real 404 is FileNotFoundError.
    assert isinstance(raised.value, FileNotFoundError) == (code == "NoSuchKey")


def test_local_files_are_read_by_value_and_tagged_by_mtime(tmp_path):
    (tmp_path / "a.json").write_bytes(b'{"v": 1}')
    store, root = object_store(f"file://{tmp_path}/")
    assert isinstance(store, LocalStore) and root == str(tmp_path)
    path = f"{root}/a.json"
    assert store.cat_file(path) == b'{"v": 1}' and store.exists(path)
    with store.open(path, "rb") as handle:
        assert handle.read() == b'{"v": 1}'
    first = store.info(path)
    assert first["size"] == 8
    (tmp_path / "a.json").write_bytes(b'{"v": 22}')
    os.utime(tmp_path / "a.json", (first["mtime"] + 5, first["mtime"] + 5))
    second = store.info(path)
    assert second["mtime"] == first["mtime"] + 5 and second["size"] == 9
    assert store.cat_file(path) == b'{"v": 22}'
    assert not store.exists(f"{root}/b.json")
    for call in (store.cat_file, store.info, store.open):
        with pytest.raises(FileNotFoundError):
            call(f"{root}/b.json")
    with pytest.raises(ValueError, match="read-only"):
        store.open(path, "wb")


def test_a_relative_local_root_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert object_store("data")[1] == str(tmp_path / "data")


def test_the_artefact_store_serves_a_release_from_s3_and_sees_a_new_market(
    s3, trained_small_project
):
    data = trained_small_project / "data"
    upload_tree(s3, BUCKET, "prod", data)
    store = ArtefactStore(f"s3://{BUCKET}/prod", ttl_seconds=0)
    manifest = json.loads((data / "06_models/release/manifest.json").read_text())
    assert store.root == f"{BUCKET}/prod" and store.get().version == manifest["version"]
    assert store.market_context() == json.loads((data / MARKET_PATH).read_text())
    # The hourly run replaces the market: its new ETag makes the store read it again.
    market = {"apy": {"pool-x": 1.5}}
    s3.put_object(Bucket=BUCKET, Key=f"prod/{MARKET_PATH}", Body=json.dumps(market).encode())
    assert store.market_context() == market
