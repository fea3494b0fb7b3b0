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
from ui.exceptions import (
    AnnotationError,
    NothingToUndoError,
    ProfileNotFoundError,
    ServerConfigError,
    ServerRequestError,
    UiError,
)
from ui.filters import EpisodeQuery, Facets, SuccessFilter
from ui.profiles import ProfileDirectory, ProfileInfo
from ui.server import BackgroundServer, ServerConfig, create_app

__all__ = [
    "Annotation",
    "AnnotationEditor",
    "AnnotationError",
    "BackgroundServer",
    "EpisodeQuery",
    "Facets",
    "FramePoller",
    "NothingToUndoError",
    "ProfileDirectory",
    "ProfileInfo",
    "ProfileNotFoundError",
    "Segment",
    "ServerConfig",
    "ServerConfigError",
    "ServerRequestError",
    "SessionClient",
    "StatusStream",
    "SuccessFilter",
    "UiError",
    "UndoStack",
    "create_app",
]
