"""The HTTP API: FastAPI routes over the runtime (backends, the inference pipeline, live sessions).

    app = create_app(open_backend("best.onnx"), ServerSettings())
    uvicorn.run(app, host="127.0.0.1", port=8000)

Routes (documented by the app's own OpenAPI, `/openapi.json` and `/docs`):

- `POST /v1/classify`: a whole clip -> the top classes with probabilities;
- `POST /v1/sessions`: a streaming session for a source -> its state (with its id);
  `POST /v1/sessions/{id}/frames`: timestamped frames -> the state after them;
  `GET /v1/sessions/{id}`: the state; `DELETE /v1/sessions/{id}`: closed;
- `GET /v2/health/live`, `GET /v2/health/ready` (the Open Inference Protocol's names), `GET /v1/model`
  (the deployment contract).

Bad input never gets a 5xx: a body over `max_body_bytes` is 413, a body that is not JSON or
does not fit the schema 422, an array of the wrong shape or with NaN / infinite values 422, an
unknown or expired session 404, too many sessions 429, a wrong or missing key 401. Each answer
is `{"detail": "one clear message"}`. With `api_key` set, every route but the health checks
needs it in the `X-API-Key` header.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from cocodiff.data.pipelines import InferencePipeline
from cocodiff.errors import CocodiffError
from serve.backends import Backend, ModelRunError
from serve.http.arrays import BadRequest, as_array, frame_name, joint_shape, resolve_source
from serve.http.limits import BodyLimit
from serve.http.schemas import (ClassScore, ClipRequest, ClipResponse, FrameIn, FramesRequest, Health, PersonOut,
                                SessionRequest, SessionState)
from serve.http.sessions import Session, SessionStore
from serve.network import key_matches
from serve.recognizer import LiveConfig, softmax

KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class ServerSettings:
    api_key: str | None = None
    max_body_bytes: int = 8 << 20  # 8 MiB: a 2-person 300-frame 25-joint clip is about 0.5 MiB of JSON
    max_sessions: int = 256
    idle_timeout_s: float = 60.0
    live: LiveConfig = LiveConfig(top_k=5)


def create_app(backend: Backend, settings: ServerSettings = ServerSettings()):
    contract = backend.contract
    store = SessionStore(backend, settings.live, max_sessions=settings.max_sessions,
                         idle_timeout_s=settings.idle_timeout_s)

    def check_key(request: Request) -> None:
        if settings.api_key is not None and not key_matches(request.headers.get(KEY_HEADER), settings.api_key):
            raise BadRequest(f"missing or wrong API key (send it in the {KEY_HEADER} header)", status=401)

    app = FastAPI(title="cocodiff", version=contract.versions.get("cocodiff", ""),
                  description=f"Skeleton action recognition: {contract.describe()}")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.state.sessions = store
    keyed = [Depends(check_key)]

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, error: BadRequest):
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    @app.exception_handler(ModelRunError)
    async def failed(_: Request, error: ModelRunError):  # the runtime failed: the server's fault, not the input's
        return JSONResponse({"detail": str(error)}, status_code=503)

    @app.exception_handler(CocodiffError)
    async def refused(_: Request, error: CocodiffError):  # a frame or source the runtime refuses
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError):
        return JSONResponse({"detail": _first_problem(error)}, status_code=422)

    @app.get("/v2/health/live", response_model=Health, tags=["health"])
    def live() -> Health:
        return Health(status="live")

    @app.get("/v2/health/ready", response_model=Health, tags=["health"])
    def ready() -> Health:
        return Health(status="ready")

    @app.get("/v1/model", dependencies=keyed, tags=["model"])
    def model() -> dict:
        return {"contract": contract.to_dict(), "runtime": backend.describe()}

    @app.post("/v1/classify", response_model=ClipResponse, dependencies=keyed, tags=["clips"])
    def classify(body: ClipRequest) -> ClipResponse:
        source = resolve_source(contract, body.layout, body.frame)
        joints, channels = joint_shape(source)
        keypoint = as_array(body.keypoint, "keypoint", (None, None, joints, channels),
                            f"(M, T, V={joints}, C={channels}) for layout {source.layout}")
        if keypoint.shape[0] < 1 or keypoint.shape[1] < 1:
            raise BadRequest(f"keypoint has shape {list(keypoint.shape)}: a clip needs a person and a frame")
        sample = {"keypoint": keypoint}
        if body.keypoint_score is not None:
            sample["keypoint_score"] = as_array(body.keypoint_score, "keypoint_score", keypoint.shape[:3],
                                                "(M, T, V), as keypoint")
        elif contract.score_channel:
            raise BadRequest("this model reads a confidence channel: send keypoint_score (M, T, V)")
        probabilities = softmax(backend.predict(InferencePipeline(contract, source)(sample)[None]))[0]
        best = np.argsort(-probabilities, kind="stable")[:body.top_k]
        return ClipResponse(top=[ClassScore(name=contract.classes[i], probability=float(probabilities[i]))
                                 for i in best], frames=int(keypoint.shape[1]), persons=int(keypoint.shape[0]))

    @app.post("/v1/sessions", response_model=SessionState, status_code=201, dependencies=keyed, tags=["sessions"])
    def open_session(body: SessionRequest) -> SessionState:
        return _state(store.create(resolve_source(contract, body.layout, body.frame), body.fps), store)

    @app.post("/v1/sessions/{session_id}/frames", response_model=SessionState, dependencies=keyed,
              tags=["sessions"])
    def push(session_id: str, body: FramesRequest) -> SessionState:
        session = store.get(session_id)
        frames = [_frame_arrays(index, frame, session) for index, frame in enumerate(body.frames)]
        with session.lock:
            for index, (timestamp, persons, scores) in enumerate(frames):
                try:
                    session.last = session.recognizer.push(timestamp, persons, scores)
                except ModelRunError:
                    raise
                except CocodiffError as error:
                    raise BadRequest(f"frames[{index}]: {error} ({index} earlier frame(s) of this request were "
                                     "taken)") from None
                session.frames += 1
            return _state(session, store)

    @app.get("/v1/sessions/{session_id}", response_model=SessionState, dependencies=keyed, tags=["sessions"])
    def read(session_id: str) -> SessionState:
        session = store.get(session_id)
        with session.lock:
            return _state(session, store)

    @app.delete("/v1/sessions/{session_id}", status_code=204, dependencies=keyed, tags=["sessions"])
    def close(session_id: str) -> None:
        store.close(session_id)

    return app


def _frame_arrays(index: int, frame: FrameIn, session: Session) -> tuple[float, np.ndarray, np.ndarray | None]:
    """One pushed frame as (timestamp, persons (P, V, C), scores (P, V) or None). Shapes and
    values of every frame are checked before any reaches the session; timestamp order is the
    recogniser's check, frame by frame (the message says how many were taken)."""
    joints, channels = joint_shape(session.source)
    persons = as_array(frame.persons, f"frames[{index}].persons", (None, joints, channels),
                       f"(P, V={joints}, C={channels}) for layout {session.source.layout}")
    scores = None if frame.scores is None else as_array(frame.scores, f"frames[{index}].scores",
                                                        (persons.shape[0], joints), "(P, V)")
    return frame.timestamp, persons, scores


def _state(session: Session, store: SessionStore) -> SessionState:
    last = session.last
    persons = [] if last is None else [
        PersonOut(track=p.track, slot=p.slot, status=p.status, label=p.label, confidence=p.confidence,
                  top=[ClassScore(name=n, probability=v) for n, v in p.top], seconds_seen=p.seconds_seen)
        for p in last.persons]
    return SessionState(session=session.id, layout=session.source.layout, frame=frame_name(session.source.frame),
                        fps=session.fps, frames=session.frames, timestamp=None if last is None else last.timestamp,
                        predicted=bool(last and last.predicted), persons=persons, idle_timeout_s=store.idle_timeout_s)


def _first_problem(error) -> str:
    """FastAPI's validation errors as one line: where, and what."""
    problems = error.errors()
    if not problems:
        return "the request does not fit the API's schema"
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    if first.get("type") == "json_invalid":
        return "the body is not valid JSON"
    if first.get("type") == "missing" and tuple(first.get("loc", ())) == ("body",):
        return "the request has no body: send a JSON object"
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"
