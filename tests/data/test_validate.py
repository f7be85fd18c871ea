"""Validation and the schema gate: corrupted chunks and truncated files are reported, never crash."""

import json
import shutil

import h5py
import pytest

from foretell.data import EpisodeFile, SchemaError, dataset_info, read_meta, validate_dataset


@pytest.fixture
def copy(scenario_dataset, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(scenario_dataset, out)
    return out


def test_sound_dataset_validates(scenario_dataset):
    report = validate_dataset(scenario_dataset)
    assert report["ok"] and report["episodes_valid"] == 3 and not report["stray_files"]


def test_corrupted_chunk_is_reported_by_episode_and_file(copy):
    path = copy / "episodes" / "ep_000001.h5"
    with h5py.File(path) as f:
        offset = f["obs/rgb"].id.get_chunk_info(0).byte_offset
    payload = bytearray(path.read_bytes())
    payload[offset + 40] ^= 0xFF
    path.write_bytes(bytes(payload))
    report = validate_dataset(copy)
    assert not report["ok"]
    found = [p for p in report["problems"] if p["episode"] == 1]
    assert any("obs/rgb" in p["problem"] and "corrupted" in p["problem"] for p in found)
    assert all(p["file"] == str(path) for p in found)
    assert not [p for p in report["problems"] if p["episode"] in (0, 2)]


def test_truncated_and_garbage_files_are_reported(copy):
    path = copy / "episodes" / "ep_000000.h5"
    path.write_bytes(path.read_bytes()[:1000])
    (copy / "episodes" / "ep_000002.h5").write_bytes(b"not hdf5 at all")
    report = validate_dataset(copy)
    bad = {i: " ".join(p["problem"] for p in report["problems"] if p["episode"] == i) for i in (0, 2)}
    assert "truncated" in bad[0] and "unreadable" in bad[2] and report["episodes_valid"] == 1


def test_flipped_byte_outside_any_chunk_is_caught_by_checksums(copy):
    path = copy / "episodes" / "ep_000002.h5"
    payload = bytearray(path.read_bytes())
    payload[len(payload) // 2] ^= 0x01
    path.write_bytes(bytes(payload))
    problems = validate_dataset(copy)["problems"]
    assert any(p["episode"] == 2 for p in problems)


def test_missing_episode_is_reported(copy):
    (copy / "episodes" / "ep_000001.h5").unlink()
    report = validate_dataset(copy)
    assert report["missing"] == [1] and not report["ok"]


def test_unknown_schema_is_refused_clearly(copy):
    meta = json.loads((copy / "meta.json").read_text())
    meta["schema_version"] = 99
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(SchemaError, match="schema version 99 is not supported"):
        read_meta(copy)
    report = validate_dataset(copy)
    assert not report["ok"] and "schema version 99" in report["problems"][0]["problem"]


def test_unknown_episode_schema_is_refused(copy):
    path = copy / "episodes" / "ep_000000.h5"
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = 3
    with pytest.raises(SchemaError, match="schema version 3"):
        EpisodeFile(path).attrs  # noqa: B018 - opening is what must fail


def test_info_counts(scenario_dataset):
    info = dataset_info(scenario_dataset)
    assert info["counts"]["total"]["episodes"] == 3 and info["split"] == "train"
    assert info["counts"]["total"]["bytes_per_frame"] > 0
