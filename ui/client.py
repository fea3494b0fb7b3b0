"""SessionClient: the console's (and any script's) way to drive a session through the server.

The console has one path to a session: this client over HTTP and WebSocket. When the
console runs a session in its own process (``psi-teleop console --sim``) it starts the same
server on 127.0.0.1 with a random port and connects to it, so what the console does is
exactly what a foot pedal or a phone can do.

    client = SessionClient("http://127.0.0.1:8765")
    client.toggle_episode()                  # start, or stop if recording
    status = client.status()                 # a teleop.status.TeleopStatus

:class:`StatusStream` follows ``/ws/status`` on a background thread and keeps the newest
snapshot; :class:`FramePoller` fetches the newest camera JPEG at a fixed rate. Both hand
their result over under a lock; a GUI timer reads them and never blocks on the network.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from teleop.exceptions import MissingExtraError
from ui.exceptions import ServerRequestError

if TYPE_CHECKING:
    import numpy as np

    from teleop.status import TeleopStatus

log = logging.getLogger(__name__)

#: Longest wait for one HTTP request [s]; the console stays responsive when the server hangs.
DEFAULT_TIMEOUT_S = 2.0


def _status_adapter():
    from pydantic import TypeAdapter

    from teleop.status import TeleopStatus

    return TypeAdapter(TeleopStatus)


class SessionClient:
    """HTTP client of the session server, with the method names of :class:`SessionControl`.

    Args:
        url: base URL of the server (``http://127.0.0.1:8765``).
        token: the server's token, if it has one.
        timeout_s: per-request timeout [s].

    Every method raises :class:`ServerRequestError` (status code and the server's ``detail``)
    when the server refuses or cannot be reached.
    """

    def __init__(self, url: str, token: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S):
        try:
            import httpx
        except ImportError as exc:
            raise MissingExtraError("httpx", "ui", "the session client") from exc
        self.url = url.rstrip("/")
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s, trust_env=False)
        self._status = _status_adapter()

    # ------------------------------------------------------------------ plumbing
    def request(self, method: str, path: str, json: Any = None, params: dict | None = None):
        """One request; returns the httpx response of a 2xx answer, raises ServerRequestError otherwise."""
        import httpx

        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise ServerRequestError(0, f"{method} {self.url}{path}: {exc}") from exc
        except RuntimeError as exc:  # httpx: the client was closed (the console is shutting down)
            raise ServerRequestError(0, f"{method} {self.url}{path}: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ServerRequestError(response.status_code, str(detail))
        return response

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "SessionClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ session
    def status(self) -> "TeleopStatus":
        return self._status.validate_json(self.request("GET", "/status").content)

    def start_episode(self, task: str | None = None, instruction: str | None = None) -> str:
        return self.request("POST", "/episode/start", json={"task": task, "instruction": instruction}).json()[
            "episode_id"
        ]

    def stop_episode(self, success: bool | None = None) -> str | None:
        return self.request("POST", "/episode/stop", json={"success": success}).json()["episode_id"]

    def toggle_episode(self) -> dict[str, Any]:
        """Start if idle, stop if recording; returns ``{"action", "episode_id", "recording"}``."""
        return self.request("POST", "/episode/toggle").json()

    def discard_episode(self, reason: str = "") -> str | None:
        return self.request("POST", "/episode/discard", json={"reason": reason}).json()["episode_id"]

    def mark_success(self, episode_id: str | None, success: bool | None) -> str:
        """Judge ``episode_id`` (None: the last episode stopped through the server); returns the id."""
        return self.request("POST", "/episode/mark", json={"episode_id": episode_id, "success": success}).json()[
            "episode_id"
        ]

    def set_task(self, task: str, instruction: str = "") -> None:
        self.request("PUT", "/task", json={"task": task, "instruction": instruction})

    def engage(self) -> None:
        self.request("POST", "/engage")

    def disengage(self) -> None:
        self.request("POST", "/disengage")

    def estop(self) -> None:
        self.request("POST", "/estop")

    def release_estop(self) -> None:
        self.request("POST", "/estop/release")

    def select_calibration(self, profile: str) -> None:
        self.request("POST", "/calibration/select", json={"profile": profile})

    def calibration_profiles(self) -> list[dict[str, Any]]:
        return self.request("GET", "/calibration/profiles").json()

    def latest_jpeg(self, camera: str) -> tuple[bytes, float] | None:
        """The newest live frame of ``camera`` as JPEG bytes and its stamp [s], or None if it has none."""
        try:
            response = self.request("GET", f"/camera/{camera}")
        except ServerRequestError as exc:
            if exc.status_code == 404:
                return None
            raise
        return response.content, float(response.headers.get("x-frame-stamp", "nan"))

    def latest_frame(self, camera: str) -> "tuple[np.ndarray, float] | None":
        """The newest frame decoded to (H, W, 3) uint8 RGB, and its stamp [s]."""
        import simplejpeg

        got = self.latest_jpeg(camera)
        if got is None:
            return None
        return simplejpeg.decode_jpeg(got[0], colorspace="RGB"), got[1]

    # ------------------------------------------------------------------ dataset
    def episodes(self, **filters: Any) -> dict[str, Any]:
        """A page of ``/dataset/episodes``.

        Filters: task, status, success, tag, operator, segment, text, offset, limit.
        """
        return self.request(
            "GET", "/dataset/episodes", params={k: v for k, v in filters.items() if v is not None}
        ).json()

    def ws_url(self, path: str = "/ws/status", hz: float = 10.0) -> str:
        scheme = "wss" if self.url.startswith("https") else "ws"
        return f"{scheme}{self.url[self.url.index(':') :]}{path}?hz={hz:g}"


class StatusStream:
    """Follows ``/ws/status`` on a thread; :meth:`latest` returns the newest snapshot (or None).

    Reconnects after a lost connection (every ``retry_s``); ``connected`` says whether the
    last snapshot is fresh. Stop with :meth:`stop` (joins the thread with a timeout).
    """

    def __init__(self, client: SessionClient, hz: float = 10.0, retry_s: float = 1.0):
        self._client = client
        self._hz = hz
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._latest: TeleopStatus | None = None
        self._received = 0
        self._error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="psi-teleop-status", daemon=True)
        self.connected = False

    def start(self) -> "StatusStream":
        self._thread.start()
        return self

    def latest(self) -> "TeleopStatus | None":
        with self._lock:
            return self._latest

    @property
    def received(self) -> int:
        with self._lock:
            return self._received

    @property
    def error(self) -> str:
        with self._lock:
            return self._error

    def _run(self) -> None:
        try:
            from websockets.sync.client import connect
        except ImportError as exc:
            with self._lock:
                self._error = str(MissingExtraError("websockets", "ui", "the live status"))
            log.error("%s (%s)", self._error, exc)
            return
        adapter = _status_adapter()
        headers = {"Authorization": f"Bearer {self._client.token}"} if self._client.token else None
        url = self._client.ws_url(hz=self._hz)
        while not self._stop.is_set():
            try:
                with connect(url, additional_headers=headers, proxy=None, open_timeout=2.0, close_timeout=1.0) as ws:
                    self.connected = True
                    while not self._stop.is_set():
                        try:
                            message = ws.recv(timeout=max(1.0, 3.0 / self._hz))
                        except TimeoutError:
                            self.connected = False
                            continue
                        snapshot = adapter.validate_json(message)
                        with self._lock:
                            self._latest = snapshot
                            self._received += 1
                            self._error = ""
                        self.connected = True
            except Exception as exc:  # noqa: BLE001 - any network failure: report and retry
                self.connected = False
                with self._lock:
                    self._error = f"status stream lost: {exc}"
                self._stop.wait(self._retry_s)

    def stop(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)


class FramePoller:
    """Fetches the newest JPEG of one camera at ``hz`` on a thread; :meth:`latest` decodes the newest one."""

    def __init__(self, client: SessionClient, camera: str, hz: float = 15.0):
        self._client = client
        self.camera = camera
        self._period = 1.0 / hz  # [s]
        self._lock = threading.Lock()
        self._jpeg: bytes | None = None
        self._stamp = float("nan")
        self._fresh = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"psi-teleop-camera-{camera}", daemon=True)

    def start(self) -> "FramePoller":
        self._thread.start()
        return self

    def _run(self) -> None:
        next_t = time.perf_counter()
        while not self._stop.is_set():
            try:
                got = self._client.latest_jpeg(self.camera)
            except ServerRequestError:
                got = None
            if got is not None:
                with self._lock:
                    self._jpeg, self._stamp, self._fresh = got[0], got[1], True
            next_t = max(next_t + self._period, time.perf_counter())
            self._stop.wait(max(0.0, next_t - time.perf_counter()))

    def latest(self) -> "tuple[np.ndarray, float] | None":
        """The newest frame (H, W, 3) uint8 and its stamp [s] if a new one arrived since the last call, else None."""
        import simplejpeg

        with self._lock:
            if not self._fresh or self._jpeg is None:
                return None
            data, stamp, self._fresh = self._jpeg, self._stamp, False
        return simplejpeg.decode_jpeg(data, colorspace="RGB"), stamp

    def stop(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
