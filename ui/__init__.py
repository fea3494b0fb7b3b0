"""The desktop apps (operator console, episode annotation) and the FastAPI session server.

Business logic lives in plain modules that tests reach without a window: the annotation
model with undo (:mod:`ui.annotation`), episode filters (:mod:`ui.filters`), calibration
profile listing (:mod:`ui.profiles`), the server's routes (:mod:`ui.server`), the HTTP
client the console uses (:mod:`ui.client`) and the console/player models
(:mod:`ui.console_model`, :mod:`ui.playback`). The Qt windows (:mod:`ui.console`,
:mod:`ui.annotate`) only wire widgets to them.

Importing this package is light: FastAPI, httpx and Qt load only when a server, a client or
a window is made.
"""

from ui.annotation import Annotation, AnnotationEditor, Segment, UndoStack
from ui.client import FramePoller, SessionClient, StatusStream
from ui.console_model import ConsoleModel, Light
from ui.episode_view import PLOT_GROUPS, EpisodeView, PlotGroup
from ui.exceptions import (
    AnnotationError,
    NothingToUndoError,
    ProfileNotFoundError,
    ServerConfigError,
    ServerRequestError,
    UiError,
)
from ui.filters import EpisodeQuery, Facets, SuccessFilter
from ui.playback import SPEEDS, Playback
from ui.profiles import ProfileDirectory, ProfileInfo
from ui.server import BackgroundServer, ServerConfig, create_app
from ui.sim_session import SessionKind, open_session

__all__ = [
    "PLOT_GROUPS",
    "SPEEDS",
    "Annotation",
    "AnnotationEditor",
    "AnnotationError",
    "BackgroundServer",
    "ConsoleModel",
    "EpisodeQuery",
    "EpisodeView",
    "Facets",
    "FramePoller",
    "Light",
    "NothingToUndoError",
    "Playback",
    "PlotGroup",
    "ProfileDirectory",
    "ProfileInfo",
    "ProfileNotFoundError",
    "Segment",
    "ServerConfig",
    "ServerConfigError",
    "ServerRequestError",
    "SessionClient",
    "SessionKind",
    "StatusStream",
    "SuccessFilter",
    "UiError",
    "UndoStack",
    "create_app",
    "open_session",
]
