import json

import pytest
from kedro.io import DataCatalog, DatasetError

from yield_runway.ingestion.partition_store import PartitionStore, ResumablePartitionsDataset


@pytest.fixture
def dataset(tmp_path) -> ResumablePartitionsDataset:
    # Built from catalog config, exactly as conf/live/catalog.yml declares it.
    catalog = DataCatalog.from_config(
        {
            "store": {
                "type": "yield_runway.ingestion.partition_store.ResumablePartitionsDataset",
                "path": str(tmp_path / "charts"),
                "dataset": {"type": "json.JSONDataset"},
                "filename_suffix": ".json",
            }
        }
    )
    return catalog["store"]


def test_empty_store_has_no_keys(dataset):
    store = dataset.load()
    assert isinstance(store, PartitionStore)
    assert store.keys() == set()


def test_each_save_writes_one_file_and_keeps_the_others(dataset, tmp_path):
    store = dataset.load()
    store.save("pool-a", {"x": 1})
    assert json.loads((tmp_path / "charts" / "pool-a.json").read_text()) == {"x": 1}
    store.save("pool-b", {"x": 2})
    assert store.keys() == {"pool-a", "pool-b"}
    assert {k: load() for k, load in store.load_all().items()} == {
        "pool-a": {"x": 1},
        "pool-b": {"x": 2},
    }


def test_ids_cannot_escape_the_folder(dataset, tmp_path):
    store = dataset.load()
    store.save("../evil/x", {"x": 1})
    assert [p.name for p in (tmp_path / "charts").iterdir()] == ["..%2Fevil%2Fx.json"]
    assert store.keys() == {"../evil/x"}


def test_saving_through_the_catalog_is_refused(dataset):
    with pytest.raises(DatasetError, match="partition by partition"):
        dataset.save({"pool-a": {"x": 1}})


def test_overwrite_is_refused(tmp_path):
    with pytest.raises(DatasetError):
        ResumablePartitionsDataset(path=str(tmp_path), dataset="json.JSONDataset", overwrite=True)
