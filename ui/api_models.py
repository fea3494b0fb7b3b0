"""Request and response models of the session server (its OpenAPI schema is built from these).

The session status itself is :class:`teleop.status.TeleopStatus` (a frozen dataclass that
pydantic validates and serialises as is), so the server, the console and the teleop loop
share one definition of it.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recorder.schema import EpisodeStatus


class ErrorResponse(BaseModel):
    """What every 4xx answer carries: the problem in words and what to do next."""

    detail: str


class StartEpisodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str | None = Field(None, max_length=200, description="task name; None keeps the session's task")
    instruction: str | None = Field(
        None, max_length=2000, description="language instruction; None keeps the current one"
    )


class StopEpisodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    success: bool | None = Field(None, description="the operator's verdict; None: judge later")


class DiscardEpisodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=2000, description="why the episode is thrown away")


class MarkSuccessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    episode_id: str | None = Field(
        None, max_length=200, description="episode to judge; None: the last episode this server stopped"
    )
    success: bool | None = Field(..., description="true: success, false: failure, null: not judged")


class SetTaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(..., min_length=1, max_length=200)
    instruction: str = Field("", max_length=2000)


class SelectProfileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: str = Field(..., min_length=1, max_length=200, description="profile name (file stem)")


class EpisodeAction(str, enum.Enum):
    """What an episode command did."""

    STARTED = "started"
    STOPPED = "stopped"
    DISCARDED = "discarded"
    MARKED = "marked"
    NOTHING = "nothing"  # stop/discard with no episode recording


class EpisodeControlResponse(BaseModel):
    """The outcome of an episode command."""

    action: EpisodeAction = Field(..., description="what was done")
    episode_id: str | None = Field(None, description="the episode it concerned (None: there was none)")
    recording: bool = Field(..., description="whether an episode is recording after the command")


class CommandResponse(BaseModel):
    """The outcome of an engage/safety/task/calibration command, with the session's state after it."""

    ok: bool = True
    engage: str = Field(..., description="engagement state after the command (EngageState value)")
    message: str = ""


class ProfileModel(BaseModel):
    name: str
    valid: bool
    error: str = ""
    modified: float = Field(..., description="file modification time [s since the epoch]")
    selected: bool = Field(False, description="the session uses this profile")


class SegmentModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: float = Field(..., ge=0.0, description="[s] since the episode's first row")
    end: float = Field(..., ge=0.0, description="[s] since the episode's first row")
    label: str = Field(..., min_length=1, max_length=200)
    language: str = Field("", max_length=2000)


class EpisodeSummary(BaseModel):
    """One episode in a listing (its attrs, typed)."""

    episode_id: str
    status: EpisodeStatus
    task: str = ""
    instruction: str = ""
    operator: str = ""
    success: bool | None = None
    n_rows: int = 0
    duration_s: float = Field(0.0, description="[s]")
    segments: list[dict[str, Any]] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    notes: str = ""
    trim: list[float] | None = Field(None, description="[start_s, end_s] kept for training, or null")


class EpisodeDetail(EpisodeSummary):
    cameras: list[str] = Field(default_factory=list)
    streams: list[str] = Field(default_factory=list)
    record_hz: float = Field(..., description="[Hz]")
    attrs: dict[str, Any] = Field(default_factory=dict, description="every attribute of the episode, as stored")


class EpisodePage(BaseModel):
    total: int = Field(..., description="episodes matching the filter")
    offset: int
    episodes: list[EpisodeSummary]


class DatasetSummary(BaseModel):
    path: str
    record_hz: float = Field(..., description="[Hz]")
    episodes: int
    usable: int
    duration_s: float = Field(..., description="[s] of usable episodes")
    tasks: list[str]
    tags: list[str]
    operators: list[str]


class AnnotationUpdate(BaseModel):
    """A partial update of an episode's annotations (fields left out are not changed)."""

    model_config = ConfigDict(extra="forbid")

    success: bool | None = None
    segments: list[SegmentModel] | None = None
    tags: list[str] | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=20000)
    trim: list[float] | None = Field(None, min_length=2, max_length=2, description="[start_s, end_s]")
    clear_trim: bool = Field(False, description="remove the trim (trim=null cannot say that)")
    task: str | None = Field(None, max_length=200)
    instruction: str | None = Field(None, max_length=2000)


def episode_summary(info) -> EpisodeSummary:
    """An :class:`EpisodeSummary` of a :class:`recorder.EpisodeInfo`."""
    trim = info.attrs.get("trim")
    return EpisodeSummary(
        episode_id=info.episode_id,
        status=info.status,
        task=info.task,
        instruction=info.instruction,
        operator=info.operator,
        success=info.success,
        n_rows=info.n_rows,
        duration_s=info.duration_s,
        segments=[dict(s) for s in info.segments],
        tags=list(info.tags),
        notes=info.notes,
        trim=None if trim is None else [float(x) for x in trim],
    )
