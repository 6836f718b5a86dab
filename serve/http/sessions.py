"""Streaming sessions: one live recogniser each, behind an id, forgotten when idle.

A session is created with its source (layout and coordinate frame) and lives until it is closed
or has seen no request for `idle_timeout_s`; after that its id answers 404 like an unknown one.
At most `max_sessions` exist at once: one more is refused (429) until one closes or expires.
Requests of one session are serialised by its lock (a recogniser is not thread-safe); sessions
run side by side and share the model's backend.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from cocodiff.data.pipelines import SkeletonSource
from serve.backends import Backend
from serve.http.arrays import BadRequest
from serve.recognizer import LiveConfig, LiveRecognizer, LiveUpdate


@dataclass
class Session:
    id: str
    source: SkeletonSource
    fps: float | None
    recognizer: LiveRecognizer
    last_used: float
    frames: int = 0
    last: LiveUpdate | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class SessionStore:
    def __init__(self, backend: Backend, config: LiveConfig = LiveConfig(), *, max_sessions: int = 256,
                 idle_timeout_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.backend, self.config, self.clock = backend, config, clock
        self.max_sessions, self.idle_timeout_s = max_sessions, idle_timeout_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, source: SkeletonSource, fps: float | None) -> Session:
        recognizer = LiveRecognizer(self.backend, source, self.config)  # a one-line error for an unfit source
        with self._lock:
            self._expire()
            if len(self._sessions) >= self.max_sessions:
                raise BadRequest(f"{self.max_sessions} sessions are open: close one, or wait "
                                 f"{self.idle_timeout_s:g} s for an idle one to expire", status=429)
            session = Session(secrets.token_urlsafe(12), source, fps, recognizer, self.clock())
            self._sessions[session.id] = session
            return session

    def get(self, session_id: str) -> Session:
        with self._lock:
            self._expire()
            session = self._sessions.get(session_id)
            if session is None:
                raise BadRequest(f"no session {session_id[:64]!r}: it was closed, expired after "
                                 f"{self.idle_timeout_s:g} s idle, or never existed", status=404)
            session.last_used = self.clock()
            return session

    def close(self, session_id: str) -> None:
        self.get(session_id)
        with self._lock:
            self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._sessions)

    def _expire(self) -> None:
        now = self.clock()
        for stale in [key for key, s in self._sessions.items() if now - s.last_used > self.idle_timeout_s]:
            del self._sessions[stale]
