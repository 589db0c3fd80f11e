from collections.abc import Iterator

import pytest

from tests.ingestion.fake_api import FakeYieldsApi


@pytest.fixture
def api() -> Iterator[FakeYieldsApi]:
    server = FakeYieldsApi().start()
    yield server
    server.stop()
