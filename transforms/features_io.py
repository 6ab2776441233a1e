"""Feature files on storage: written atomically by the runtime's writer, listed, read.

The layout and codec are model.features.codec's (shared with the classifier and training);
this module puts them on local paths or gs:// through the runtime's storage layer, so that a
feature file is written all or nothing, counted in the write log, and its temporary files are
swept and never listed.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from apache_beam.io.filesystems import FileSystems

from jobgraph.storage import is_temporary, write_atomically
from model.features.codec import FeatureRecord, encode_record, read_feature_file
from model.features.pca import PCAParams, pca_bytes


def write_features(path: str, record: FeatureRecord) -> str:
    """Write `record` as a one-record TFRecord file at `path`, atomically; returns `path`."""
    write_atomically(path, encode_record(record))
    return path


def write_pca(path: str, params: PCAParams) -> None:
    """Write PCA parameters as .npz to `path` (any FileSystems path), atomically."""
    write_atomically(path, pca_bytes(params))


def matching_paths(pattern: str) -> list[str]:
    """Sorted paths FileSystems matches for `pattern` (a glob), temporary files of writes left out."""
    result = FileSystems.match([pattern])[0]
    return sorted(m.path for m in result.metadata_list if not is_temporary(m.path))


def iter_features(pattern: str) -> Iterator[tuple[str, np.ndarray, int]]:
    """(id, frames float32[T,D], num_frames) for each feature file matching `pattern`, in path order."""
    for path in matching_paths(pattern):
        parsed = read_feature_file(path)
        yield parsed.video_id, parsed.frames, parsed.num_frames
