"""The Zarr episode store: writer, reader, validation, recovery, export.

    from recorder import DatasetWriter, TickRecord, Dataset
    with DatasetWriter("data/demo", record_hz=30.0, camera_shapes={"head": (480, 640)}) as ds:
        ep = ds.start_episode(task="pick_place", instruction="put the cup on the plate")
        ep.append(TickRecord(t=clock.now(), state=s, action=a, robot=..., operator=..., cameras=...))
        info = ep.finish(success=True)
    reader = Dataset.open("data/demo").episode(info.episode_id)
    reader.read("action", 0, 30); reader.frame("head", 0)

Nothing here imports torch, Qt or the UI; the teleop loop only pays for ``append``.
"""

from recorder.config import WriterConfig
from recorder.exceptions import (
    CorruptDataError,
    DatasetNotFoundError,
    EpisodeNotFoundError,
    EpisodeStateError,
    RecorderError,
    RecordLayoutError,
    StorageError,
    StorageFullError,
    WriterDiedError,
)
from recorder.info import EpisodeInfo
from recorder.reader import Dataset, EpisodeReader
from recorder.schema import SCHEMA_VERSION, EpisodeStatus
from recorder.tick import TickRecord
from recorder.writer import DatasetWriter, EpisodeWriter

__all__ = [
    "SCHEMA_VERSION",
    "CorruptDataError",
    "Dataset",
    "DatasetNotFoundError",
    "DatasetWriter",
    "EpisodeInfo",
    "EpisodeNotFoundError",
    "EpisodeReader",
    "EpisodeStateError",
    "EpisodeStatus",
    "EpisodeWriter",
    "RecordLayoutError",
    "RecorderError",
    "StorageError",
    "StorageFullError",
    "TickRecord",
    "WriterConfig",
    "WriterDiedError",
]
