"""Resume fails loudly: kept episodes are verified (and regenerated when bad), library versions must match."""

import json
import shutil

import h5py
import pytest

from foretell.data import generate, read_meta, validate_dataset
from foretell.data.schema import VERSIONED_PACKAGES, library_versions
from foretell.envs.sim.cameras import CAMERA_VERSION

from .conftest import dataset_bytes, scenario_config


@pytest.fixture
def copy(scenario_dataset, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(scenario_dataset, out)
    return out


def _flip_a_pixel_byte(path):
    with h5py.File(path) as f:
        offset = f["obs/rgb"].id.get_chunk_info(0).byte_offset
    payload = bytearray(path.read_bytes())
    payload[offset + 40] ^= 0xFF
    path.write_bytes(bytes(payload))


def test_resume_regenerates_a_corrupted_episode(copy, scenario_dataset):
    """Before: the corrupted episode was kept and SHA256SUMS rewritten from its bytes, so validate said ok."""
    _flip_a_pixel_byte(copy / "episodes" / "ep_000001.h5")
    with pytest.warns(UserWarning, match=r"ep_000001\.h5: its bytes differ from the SHA-256"):
        report = generate(scenario_config(), copy, resume=True, progress=False)
    assert report.repaired == [1] and report.generated == 1
    assert validate_dataset(copy)["ok"]
    assert dataset_bytes(copy) == dataset_bytes(scenario_dataset)  # regenerated from its seed: the right bytes


def test_resume_regenerates_a_truncated_episode_of_an_unfinished_dataset(copy, scenario_dataset):
    """A killed run leaves no SHA256SUMS: kept episodes are read in full. Before: resume crashed in h5py
    without naming the file."""
    (copy / "SHA256SUMS").unlink()
    meta = json.loads((copy / "meta.json").read_text())
    (copy / "meta.json").write_text(json.dumps({**meta, "status": "incomplete", "counts": {}}))
    path = copy / "episodes" / "ep_000000.h5"
    path.write_bytes(path.read_bytes()[:2000])
    (copy / "episodes" / "ep_000002.h5").unlink()
    with pytest.warns(UserWarning, match=r"ep_000000\.h5: unreadable: truncated"):
        report = generate(scenario_config(), copy, resume=True, progress=False)
    assert report.repaired == [0] and (report.generated, report.skipped) == (2, 1)
    assert dataset_bytes(copy) == dataset_bytes(scenario_dataset)


def test_meta_records_library_versions(scenario_dataset):
    versions = read_meta(scenario_dataset).versions
    assert tuple(sorted(versions)) == tuple(sorted(VERSIONED_PACKAGES)) and versions == library_versions()
    assert "versions" in json.loads((scenario_dataset / "meta.json").read_text())


def test_resume_refuses_other_library_versions(copy):
    meta = json.loads((copy / "meta.json").read_text())
    meta["versions"]["mujoco"] = "3.1.0"
    (copy / "meta.json").write_text(json.dumps(meta))
    (copy / "episodes" / "ep_000002.h5").unlink()
    with pytest.raises(ValueError, match=r"other library versions \(mujoco 3\.1\.0 -> "):
        generate(scenario_config(), copy, resume=True, progress=False)
    assert not (copy / "episodes" / "ep_000002.h5").exists()  # refused before generating anything


def test_resume_refuses_images_from_other_cameras(copy):
    """A dataset whose images came from the hand-placed cameras (no ``camera_version``: version 1) is
    not finished with today's cameras: one dataset would hold two views of the table."""
    meta = json.loads((copy / "meta.json").read_text())
    del meta["envs"]["foretell/Collide-v0"]["camera_version"]
    (copy / "meta.json").write_text(json.dumps(meta))
    (copy / "episodes" / "ep_000002.h5").unlink()
    with pytest.raises(ValueError, match=rf"camera version 1 and this foretell renders camera version {CAMERA_VERSION}"):
        generate(scenario_config(), copy, resume=True, progress=False)
    assert not (copy / "episodes" / "ep_000002.h5").exists()


def test_schema_1_dataset_is_readable_but_not_resumable(schema1_dataset):
    meta = read_meta(schema1_dataset)
    assert meta.schema_version == 1 and meta.versions == {} and meta.envs == {}
    assert validate_dataset(schema1_dataset)["ok"]
    with pytest.raises(ValueError, match="schema version 1"):
        generate(scenario_config(), schema1_dataset, resume=True, progress=False)
