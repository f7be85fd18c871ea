"""foretell.data: dataset generation, on-disk format, validation, loaders and export.

One dataset is a directory: ``meta.json`` (schema version, config, seeds, counts) and
``episodes/ep_XXXXXX.h5``, one HDF5 file per episode, each committed atomically. See
``docs/data.md``.
"""

from typing import Any

from .episode_file import EpisodeFile, read_episode
from .generate import GenerationReport, generate
from .recipe import load_recipe
from .schema import SCHEMA_VERSION, DatasetConfig, SchemaError, TaskSpec, episode_seeds, read_meta
from .validate import dataset_info, validate_dataset

__all__ = ["SCHEMA_VERSION", "DatasetConfig", "EpisodeDataset", "EpisodeFile", "GenerationReport", "SchemaError",
           "TaskSpec", "dataset_info", "episode_seeds", "generate", "load_recipe", "read_episode", "read_meta",
           "validate_dataset"]


def __getattr__(name: str) -> Any:
    # EpisodeDataset imports torch; loading it lazily keeps generation workers' start-up cheap.
    if name == "EpisodeDataset":
        from .dataset import EpisodeDataset

        return EpisodeDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
