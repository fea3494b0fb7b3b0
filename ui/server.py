"""The session server: REST + WebSocket over one :class:`teleop.status.SessionControl`.

    psi-teleop serve                                   # 127.0.0.1:8765, no token needed
    curl -X POST http://127.0.0.1:8765/episode/toggle  # a foot pedal's whole job

Routes (typed request/response models in :mod:`ui.api_models`; OpenAPI at ``/openapi.json``):

    GET  /status                         session snapshot (TeleopStatus)
    WS   /ws/status?hz=10                the snapshot pushed ``hz`` times a second
    POST /episode/start|stop|toggle|discard|success|failure|mark
    PUT  /task                           task and instruction of the next episodes
    POST /engage  /disengage  /estop  /estop/release
    GET  /calibration/profiles           POST /calibration/select
    GET  /camera/{camera}                newest live frame as JPEG
    GET  /dataset                        GET /dataset/episodes?task=&status=&success=&tag=&operator=
    GET  /dataset/episodes/{id}          attrs       GET /dataset/episodes/{id}/thumbnail (JPEG)
    PATCH /dataset/episodes/{id}         annotations (success, segments, tags, notes, trim)

Security: bound to a loopback address it needs nothing; bound to anything else it refuses
to start without a token (:class:`ServerConfig`). With a token set every request (HTTP and
WebSocket) must carry it — ``Authorization: Bearer <token>``, ``X-Psi-Token: <token>`` or
``?token=<token>`` (for a phone's bookmark) — or is answered 401.

Session routes exist only when a session is attached, dataset routes only when a dataset is
configured or a session is attached (it reports the dataset it records into), so the schema
lists only what can work. Errors the project raises on purpose become 4xx answers with the message as ``detail``.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures, whose types are
# imported inside create_app (light imports), so they must be evaluated where they are defined.

import asyncio
import functools
import ipaddress
import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teleop.exceptions import MissingExtraError
from ui.exceptions import ServerConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from teleop.status import SessionControl

log = logging.getLogger(__name__)

#: Header a client may use instead of ``Authorization: Bearer``.
TOKEN_HEADER = "x-psi-token"
#: Shortest token accepted: a guessable token is no protection on a shared network.
MIN_TOKEN_LENGTH = 8
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_profiles_dir() -> Path:
    from calibration import profiles_dir

    return profiles_dir(None)


@dataclass(frozen=True)
class ServerConfig:
    """How the session server listens and what it serves.

    Attributes:
        host: address to bind; a non-loopback address requires ``token``.
        port: TCP port [0..65535]; 0 picks a free one.
        token: shared secret every request must carry (None: no authentication, loopback only).
        dataset: dataset to browse; None: the one the session records into, if any.
        profiles_dir: directory of calibration profiles (``*.json``/``*.yaml``); default: the
            calibration package's (``$PSI_TELEOP_CALIBRATION_DIR`` or ``~/.config/psi-teleop/calibration``).
        status_hz: default push rate of ``/ws/status`` [Hz].
        jpeg_quality: quality of live camera JPEGs [1..100].
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    dataset: Path | None = None
    profiles_dir: Path = field(default_factory=lambda: _default_profiles_dir())
    status_hz: float = 10.0  # [Hz]
    jpeg_quality: int = 80  # [1..100]

    def __post_init__(self) -> None:
        if not self.host:
            raise ServerConfigError("ServerConfig.host is empty; use 127.0.0.1 (this machine only) or an address")
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ServerConfigError(f"ServerConfig.port={self.port!r} is out of range; valid: [0, 65535]")
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise ServerConfigError(
                f"ServerConfig.token is {len(self.token)} characters; use at least {MIN_TOKEN_LENGTH} "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)"
            )
        if self.token is None and not is_loopback(self.host):
            raise ServerConfigError(
                f"refusing to serve on {self.host} without a token: anyone on that network could drive the robot. "
                "Pass --token (or set PSI_TELEOP_TOKEN), or bind 127.0.0.1"
            )
        if not (
            isinstance(self.status_hz, (int, float)) and math.isfinite(self.status_hz) and 0.5 <= self.status_hz <= 60
        ):
            raise ServerConfigError(f"ServerConfig.status_hz={self.status_hz!r} is out of range; valid: [0.5, 60] Hz")
        if not isinstance(self.jpeg_quality, int) or not 1 <= self.jpeg_quality <= 100:
            raise ServerConfigError(f"ServerConfig.jpeg_quality={self.jpeg_quality!r} is out of range; valid: [1, 100]")


def _import_fastapi():
    try:
        import fastapi
    except ImportError as exc:
        raise MissingExtraError("fastapi", "ui", "the session server") from exc
    return fastapi


class TokenAuth:
    """ASGI middleware: reject every HTTP request and WebSocket that lacks the token (401 / close 1008)."""

    def __init__(self, app, token: str):
        self.app = app
        self._token = token.encode()

    def _authorised(self, scope) -> bool:
        headers = dict(scope.get("headers") or ())
        candidates = []
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() == b"bearer ":
            candidates.append(auth[7:].strip())
        if TOKEN_HEADER.encode() in headers:
            candidates.append(headers[TOKEN_HEADER.encode()].strip())
        from urllib.parse import parse_qs

        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        candidates.extend(v.encode() for v in query.get("token", ()))
        return any(secrets.compare_digest(c, self._token) for c in candidates)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "missing or wrong token"})
            return
        body = b'{"detail":"missing or wrong token: send Authorization: Bearer <token>, X-Psi-Token or ?token="}'
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _State:
    """What the route handlers share: the session, the dataset (opened lazily), the last stopped episode."""

    def __init__(self, config: ServerConfig, session: "SessionControl | None"):
        from ui.profiles import ProfileDirectory

        self.config = config
        self.session = session
        self.profiles = ProfileDirectory(config.profiles_dir)
        self.lock = threading.Lock()
        self.last_episode: str | None = None
        self._dataset = None
        self._dataset_path: str | None = None

    def dataset_location(self) -> str | None:
        if self.config.dataset is not None:
            return str(self.config.dataset)
        if self.session is not None:
            return self.session.status().dataset or None
        return None

    def dataset(self):
        """The dataset, (re)opened when its location changes; raises DatasetNotFoundError if absent."""
        from recorder import Dataset
        from recorder.exceptions import DatasetNotFoundError

        location = self.dataset_location()
        if location is None:
            raise DatasetNotFoundError(
                "this server has no dataset: start it with --dataset PATH (or the session records into none yet)"
            )
        with self.lock:
            if self._dataset is None or self._dataset_path != location:
                self._dataset = Dataset.open(location)
                self._dataset_path = location
            return self._dataset


def _jpeg_response(data: bytes, headers: dict[str, str] | None = None):
    from fastapi import Response

    return Response(content=data, media_type="image/jpeg", headers=headers or {})


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0


def create_app(config: ServerConfig | None = None, session: "SessionControl | None" = None) -> "FastAPI":
    """The FastAPI application serving ``session`` (may be None: dataset browsing only).

    Raises:
        MissingExtraError: fastapi is not installed (``pip install 'psi-teleop[ui]'``).
    """
    fastapi = _import_fastapi()
    from fastapi import Body, FastAPI, Path as PathParam, Query, Request, WebSocket
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from recorder.exceptions import (
        CorruptDataError,
        DatasetNotFoundError,
        EpisodeNotFoundError,
        RecorderError,
    )
    from teleop.exceptions import ConfigError, PsiTeleopError
    from teleop.status import EpisodeState, TeleopStatus
    from recorder.schema import EpisodeStatus
    from ui import api_models as m
    from ui.exceptions import AnnotationError, ProfileNotFoundError
    from ui.filters import EpisodeQuery, SuccessFilter

    config = config or ServerConfig()
    state = _State(config, session)
    errors: dict[int | str, dict[str, Any]] = {
        404: {"model": m.ErrorResponse, "description": "no such episode, profile, camera or dataset"},
        409: {"model": m.ErrorResponse, "description": "the session cannot do that now"},
        422: {"model": m.ErrorResponse, "description": "invalid request (which field, and why)"},
    }
    app = FastAPI(
        title="psi-teleop session server",
        version="0.1.0",
        description="Status, episode control, calibration selection and dataset browsing of a psi-teleop session.",
    )
    app.state.psi = state
    if config.token:
        app.add_middleware(TokenAuth, token=config.token)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError):
        return JSONResponse(status_code=422, content={"detail": describe_validation_errors(exc.errors())})

    @app.exception_handler(PsiTeleopError)
    async def _project_error(request: Request, exc: PsiTeleopError):
        if isinstance(exc, (ProfileNotFoundError, EpisodeNotFoundError, DatasetNotFoundError)):
            code = 404
        elif isinstance(exc, (AnnotationError, ConfigError)) or (
            isinstance(exc, RecorderError) and not isinstance(exc, CorruptDataError)
        ):
            code = 422
        else:
            code = 409
        log.info("%s %s -> %d: %s", request.method, request.url.path, code, exc)
        return JSONResponse(status_code=code, content={"detail": str(exc)})

    def engage_value() -> str:
        return session.status().engage.value

    # ------------------------------------------------------------------ session routes
    if session is not None:

        @app.get("/status", response_model=TeleopStatus, tags=["session"])
        def get_status():
            """The session's latest status snapshot (a non-finite number is sent as "NaN"/"Infinity")."""
            from fastapi import Response

            return Response(content=status_json(session.status()), media_type="application/json")

        @app.websocket("/ws/status")
        async def ws_status(websocket: WebSocket, hz: float = config.status_hz) -> None:
            """Push the status as JSON ``hz`` times a second [0.5..60 Hz] until the client leaves."""
            from starlette.concurrency import run_in_threadpool
            from starlette.websockets import WebSocketDisconnect, WebSocketState

            await websocket.accept()
            period = 1.0 / min(max(hz if math.isfinite(hz) else config.status_hz, 0.5), 60.0)  # [s]
            try:
                while websocket.application_state is WebSocketState.CONNECTED:
                    snapshot = await run_in_threadpool(session.status)
                    await websocket.send_text(status_json(snapshot).decode())
                    await asyncio.sleep(period)
            except (WebSocketDisconnect, RuntimeError, OSError):
                return  # the client left or the server is shutting down

        def _recording() -> bool:
            return session.status().episode is EpisodeState.RECORDING

        def _start(body: m.StartEpisodeRequest | None) -> m.EpisodeControlResponse:
            body = body or m.StartEpisodeRequest()
            eid = session.start_episode(task=body.task, instruction=body.instruction)
            return m.EpisodeControlResponse(action=m.EpisodeAction.STARTED, episode_id=eid, recording=True)

        def _stop(success: bool | None) -> m.EpisodeControlResponse:
            eid = session.stop_episode(success=success)
            if eid is not None:
                state.last_episode = eid
            # After stop_episode nothing records (the contract); the status snapshot may lag a tick.
            return m.EpisodeControlResponse(
                action=m.EpisodeAction.STOPPED if eid else m.EpisodeAction.NOTHING, episode_id=eid, recording=False
            )

        @app.post("/episode/start", response_model=m.EpisodeControlResponse, responses=errors, tags=["episode"])
        def episode_start(body: m.StartEpisodeRequest | None = Body(None)) -> m.EpisodeControlResponse:
            """Start recording an episode (409 if one is already recording)."""
            return _start(body)

        @app.post("/episode/stop", response_model=m.EpisodeControlResponse, responses=errors, tags=["episode"])
        def episode_stop(body: m.StopEpisodeRequest | None = Body(None)) -> m.EpisodeControlResponse:
            """Finish the recording episode, optionally with the verdict."""
            return _stop((body or m.StopEpisodeRequest()).success)

        @app.post("/episode/toggle", response_model=m.EpisodeControlResponse, responses=errors, tags=["episode"])
        def episode_toggle() -> m.EpisodeControlResponse:
            """Stop if recording, start if idle: the one button of a foot pedal or headset.

            Decided by the session itself (``stop_episode`` returns None when nothing records),
            not by the status snapshot, which can lag the last command by a tick: two quick
            presses always mean start, then stop.
            """
            stopped = _stop(None)
            return stopped if stopped.episode_id is not None else _start(None)

        @app.post("/episode/discard", response_model=m.EpisodeControlResponse, responses=errors, tags=["episode"])
        def episode_discard(body: m.DiscardEpisodeRequest | None = Body(None)) -> m.EpisodeControlResponse:
            """Stop the recording episode and mark it discarded (its data stays on disk)."""
            eid = session.discard_episode(reason=(body or m.DiscardEpisodeRequest()).reason)
            return m.EpisodeControlResponse(
                action=m.EpisodeAction.DISCARDED if eid else m.EpisodeAction.NOTHING, episode_id=eid, recording=False
            )

        def _mark(episode_id: str | None, success: bool | None) -> m.EpisodeControlResponse:
            eid = episode_id or state.last_episode
            if eid is None:
                from ui.exceptions import UiError

                raise UiError("no episode to judge: stop an episode first or name one in 'episode_id'")
            session.mark_success(eid, success)
            return m.EpisodeControlResponse(action=m.EpisodeAction.MARKED, episode_id=eid, recording=_recording())

        @app.post("/episode/mark", response_model=m.EpisodeControlResponse, responses=errors, tags=["episode"])
        def episode_mark(body: m.MarkSuccessRequest) -> m.EpisodeControlResponse:
            """Set the verdict of an episode (default: the last one stopped through this server)."""
            return _mark(body.episode_id, body.success)

        @app.post("/episode/success", response_model=m.EpisodeControlResponse, responses=errors, tags=["episode"])
        def episode_success() -> m.EpisodeControlResponse:
            """Mark the last stopped episode a success (a bodiless POST, for buttons)."""
            return _mark(None, True)

        @app.post("/episode/failure", response_model=m.EpisodeControlResponse, responses=errors, tags=["episode"])
        def episode_failure() -> m.EpisodeControlResponse:
            """Mark the last stopped episode a failure."""
            return _mark(None, False)

        @app.put("/task", response_model=m.CommandResponse, responses=errors, tags=["session"])
        def put_task(body: m.SetTaskRequest) -> m.CommandResponse:
            """Set the task and instruction the next episodes are recorded with."""
            session.set_task(body.task, body.instruction)
            return m.CommandResponse(engage=engage_value(), message=f"task '{body.task}'")

        def _command(fn, message: str) -> m.CommandResponse:
            fn()
            return m.CommandResponse(engage=engage_value(), message=message)

        @app.post("/engage", response_model=m.CommandResponse, responses=errors, tags=["safety"])
        def engage() -> m.CommandResponse:
            """Ramp from the robot's pose to the operator's and follow."""
            return _command(session.engage, "engaging")

        @app.post("/disengage", response_model=m.CommandResponse, responses=errors, tags=["safety"])
        def disengage() -> m.CommandResponse:
            """Ramp back and hold the robot's pose."""
            return _command(session.disengage, "disengaging")

        @app.post("/estop", response_model=m.CommandResponse, responses=errors, tags=["safety"])
        def estop() -> m.CommandResponse:
            """Emergency stop: damp the robot until released."""
            return _command(session.estop, "e-stop engaged")

        @app.post("/estop/release", response_model=m.CommandResponse, responses=errors, tags=["safety"])
        def estop_release() -> m.CommandResponse:
            """Release the e-stop (the robot stays disengaged)."""
            return _command(session.release_estop, "e-stop released")

        @app.get("/calibration/profiles", response_model=list[m.ProfileModel], tags=["calibration"])
        def list_profiles() -> list[m.ProfileModel]:
            """The calibration profiles in the server's profile directory, with their validity."""
            selected = session.status().calibration_profile
            return [
                m.ProfileModel(
                    name=p.name, valid=p.valid, error=p.error, modified=p.modified, selected=p.name == selected
                )
                for p in state.profiles.list()
            ]

        @app.post("/calibration/select", response_model=m.CommandResponse, responses=errors, tags=["calibration"])
        def select_profile(body: m.SelectProfileRequest) -> m.CommandResponse:
            """Use this profile for the session (404 if absent, 422 if it does not validate)."""
            info = state.profiles.find(body.profile)
            if not info.valid:
                raise ConfigError(f"calibration profile '{info.name}' is not usable: {info.error}")
            session.select_calibration(info.name)
            return m.CommandResponse(engage=engage_value(), message=f"calibration '{info.name}' selected")

        @app.get(
            "/camera/{camera}",
            responses={**errors, 200: {"content": {"image/jpeg": {}}}},
            response_class=fastapi.Response,
            tags=["session"],
        )
        def camera(camera: str = PathParam(..., max_length=100)):
            """The newest frame of a live camera as JPEG (header X-Frame-Stamp: acquisition time [s])."""
            import numpy as np
            import simplejpeg

            latest = session.latest_frame(camera)
            if latest is None:
                raise EpisodeNotFoundError(f"camera '{camera}' has no live frame; is the camera name right?")
            frame, stamp = latest
            data = simplejpeg.encode_jpeg(np.ascontiguousarray(frame), quality=config.jpeg_quality, colorspace="RGB")
            return _jpeg_response(data, {"X-Frame-Stamp": f"{_finite(float(stamp)):.6f}"})

    # ------------------------------------------------------------------ dataset routes
    # With a session, the dataset is the one it records into (known once it publishes its status).
    if config.dataset is not None or session is not None:

        @app.get("/dataset", response_model=m.DatasetSummary, responses=errors, tags=["dataset"])
        def dataset_summary() -> m.DatasetSummary:
            """Counts and the distinct tasks, tags and operators of the dataset."""
            from ui.filters import Facets

            ds = state.dataset()
            infos = ds.episodes()
            facets = Facets.of(infos)
            usable = [i for i in infos if i.usable]
            return m.DatasetSummary(
                path=str(state.dataset_location()),
                record_hz=ds.record_hz,
                episodes=len(infos),
                usable=len(usable),
                duration_s=sum(i.duration_s for i in usable),
                tasks=list(facets.tasks),
                tags=list(facets.tags),
                operators=list(facets.operators),
            )

        @app.get("/dataset/episodes", response_model=m.EpisodePage, responses=errors, tags=["dataset"])
        def list_episodes(
            task: str | None = Query(None, max_length=200),
            status: EpisodeStatus | None = Query(None, description="life-cycle state"),
            success: SuccessFilter = Query(SuccessFilter.ANY, description="verdict"),
            tag: str | None = Query(None, max_length=200),
            operator: str | None = Query(None, max_length=200),
            segment: str | None = Query(None, max_length=200, description="has a segment with this label"),
            text: str = Query("", max_length=200, description="substring of id, instruction or notes"),
            offset: int = Query(0, ge=0),
            limit: int = Query(100, ge=1, le=1000),
        ) -> m.EpisodePage:
            """Episodes matching every given filter, sorted by id, one page at a time."""
            query = EpisodeQuery(
                task=task, status=status, success=success, tag=tag, operator=operator, segment_label=segment, text=text
            )
            matches = query.apply(state.dataset().episodes())
            page = matches[offset : offset + limit]
            return m.EpisodePage(total=len(matches), offset=offset, episodes=[m.episode_summary(i) for i in page])

        @app.get("/dataset/episodes/{episode_id}", response_model=m.EpisodeDetail, responses=errors, tags=["dataset"])
        def get_episode(episode_id: str = PathParam(..., max_length=200)) -> m.EpisodeDetail:
            """One episode's attrs, cameras and streams."""
            from recorder.writer import jsonable

            reader = state.dataset().episode(episode_id)
            summary = m.episode_summary(reader.info)
            return m.EpisodeDetail(
                **summary.model_dump(),
                cameras=reader.cameras,
                streams=reader.streams(),
                record_hz=reader.record_hz,
                attrs=jsonable(reader.attrs),
            )

        @app.get(
            "/dataset/episodes/{episode_id}/thumbnail",
            response_class=fastapi.Response,
            responses={**errors, 200: {"content": {"image/jpeg": {}}}},
            tags=["dataset"],
        )
        def thumbnail(
            episode_id: str = PathParam(..., max_length=200),
            camera: str | None = Query(None, max_length=100, description="default: the episode's first camera"),
            index: int | None = Query(None, description="row; default: the middle row; negative counts from the end"),
            width: int = Query(160, ge=16, le=1920, description="[px] largest width of the thumbnail"),
        ):
            """A camera frame of the episode as a small JPEG."""
            reader = state.dataset().episode(episode_id)
            cams = reader.cameras
            if not cams:
                raise EpisodeNotFoundError(f"episode {episode_id} has no camera")
            cam = camera or cams[0]
            if cam not in cams:
                raise EpisodeNotFoundError(f"episode {episode_id} has no camera '{cam}'; cameras: {', '.join(cams)}")
            n = reader.n_rows
            row = n // 2 if index is None else index
            if not -n <= row < n:
                raise EpisodeNotFoundError(f"row {row} is outside episode {episode_id} (it has {n} rows)")
            data = reader.jpeg(cam, row % n)
            if not data:
                raise EpisodeNotFoundError(f"episode {episode_id} has no '{cam}' frame at row {row % n}")
            return _jpeg_response(make_thumbnail(data, width, config.jpeg_quality))

        @app.patch(
            "/dataset/episodes/{episode_id}", response_model=m.EpisodeSummary, responses=errors, tags=["dataset"]
        )
        def annotate(body: m.AnnotationUpdate, episode_id: str = PathParam(..., max_length=200)) -> m.EpisodeSummary:
            """Change annotations (attrs only; no array is rewritten). Fields left out stay as they are."""
            from dataclasses import replace

            from ui.annotation import AnnotationEditor, Segment

            editor = AnnotationEditor(state.dataset().episode(episode_id))
            a = editor.annotation
            fields = body.model_dump(exclude_unset=True)
            changes: dict[str, Any] = {}
            if "success" in fields:
                changes["success"] = body.success
            if body.segments is not None:
                changes["segments"] = tuple(Segment(s.start, s.end, s.label.strip(), s.language) for s in body.segments)
            if body.tags is not None:
                changes["tags"] = tuple(dict.fromkeys(t.strip() for t in body.tags))
            if body.notes is not None:
                changes["notes"] = body.notes
            if body.clear_trim:
                changes["trim"] = None
            elif body.trim is not None:
                changes["trim"] = (float(body.trim[0]), float(body.trim[1]))
            if body.task is not None:
                changes["task"] = body.task
            if body.instruction is not None:
                changes["instruction"] = body.instruction
            editor.apply(replace(a, **changes), "server update")
            return m.episode_summary(editor.info)

    return app


@functools.cache
def _status_adapter():
    from pydantic import TypeAdapter

    from teleop.status import TeleopStatus

    return TypeAdapter(TeleopStatus)


def status_json(status) -> bytes:
    """A :class:`TeleopStatus` as JSON; NaN and infinities become the strings "NaN", "Infinity",
    "-Infinity" (plain JSON has no such numbers; pydantic reads the strings back as floats)."""
    import pydantic_core

    return pydantic_core.to_json(_status_adapter().dump_python(status, mode="python"), inf_nan_mode="strings")


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    """FastAPI's validation errors as one sentence per field (``body.task: Input should be ...``)."""
    parts = []
    for err in errors[:10]:
        where = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return "invalid request: " + "; ".join(parts) + more


def make_thumbnail(jpeg: bytes, max_width: int, quality: int = 80) -> bytes:
    """``jpeg`` decoded at reduced size (DCT scaling) and re-encoded no wider than ``max_width`` [px]."""
    import numpy as np
    import simplejpeg

    _, width, _, _ = simplejpeg.decode_jpeg_header(jpeg)
    if width <= max_width:
        return jpeg
    image = simplejpeg.decode_jpeg(jpeg, colorspace="RGB", min_width=max_width)
    step = max(1, math.ceil(image.shape[1] / max_width))
    image = np.ascontiguousarray(image[::step, ::step])
    return simplejpeg.encode_jpeg(image, quality=quality, colorspace="RGB")


class BackgroundServer:
    """Runs uvicorn on a thread (tests, and the console's in-process session).

    ``start()`` returns once the socket listens (the base URL, with the real port when the
    config asked for port 0); ``stop()`` asks uvicorn to exit and joins the thread.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"):
        try:
            import uvicorn
        except ImportError as exc:
            raise MissingExtraError("uvicorn", "ui", "the session server") from exc
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level=log_level,
                lifespan="off",
                ws="websockets-sansio",
                timeout_graceful_shutdown=2,
            )
        )
        self._thread: threading.Thread | None = None
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> str:
        self._thread = threading.Thread(target=self._server.run, name="psi-teleop-server", daemon=True)
        self._thread.start()
        deadline = time.perf_counter() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise ServerConfigError(f"the session server could not start on {self.host}:{self.port} (see the log)")
            if time.perf_counter() > deadline:
                self.stop()
                raise ServerConfigError(f"the session server did not start within {timeout_s} s")
            time.sleep(0.01)
        sockets = [s for srv in self._server.servers for s in srv.sockets]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self.url

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout=timeout_s)
            self._thread = None

    def __enter__(self) -> "BackgroundServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
