"""The ASGI app: the API routers, the web UI at ``/ui``, and the one error boundary of the HTTP face.

Every failure leaves as one JSON body ``{"error": {"status", "code", "message"}}`` with the status
that fits: 400 bad input, 401 no/unknown token, 404 unknown (or another user's) session, artifact or
job, 409 a request that does not fit the state, 413 over a size budget, 422 a body of the wrong shape,
503 a full queue. An unexpected exception is logged with its traceback and answered 500 in one line.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.server import api
from agent.server.jobs import QueueFull
from agent.server.service import Conflict, NotFound, Service, Unauthorized
from tools.errors import ConfigError, LimitError, LlmgaError, UserError

log = logging.getLogger(__name__)

STATUS: list[tuple[type[Exception], int, str]] = [
    (NotFound, 404, "not_found"),
    (Unauthorized, 401, "unauthorized"),
    (Conflict, 409, "conflict"),
    (QueueFull, 503, "queue_full"),
    (LimitError, 413, "too_large"),
    (ConfigError, 500, "server_config"),
    (UserError, 400, "bad_request"),
    (LlmgaError, 500, "failed"),
]


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code, "message": message}}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    problems = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return 400, f"the request body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})"
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {err.get('msg')}")
    return 422, "invalid request: " + "; ".join(problems)


def create_app(svc: Service, *, ui: bool | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        svc.close()

    app = FastAPI(
        title="llmga",
        version="1",
        summary="Plan, run and remember multi-step image, video and sound generation: sessions, artifacts, jobs with live events.",
        lifespan=lifespan,
    )
    app.state.service = svc
    for router in (api.sessions, api.artifacts, api.jobs):
        app.include_router(router)

    @app.get("/v1/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {"ok": True, "queued": len(svc.queue), "profile": svc.runtime.settings.profile}

    @app.exception_handler(LlmgaError)
    async def llmga_error(request: Request, exc: LlmgaError) -> JSONResponse:
        for kind, status, code in STATUS:
            if isinstance(exc, kind):
                if status >= 500:
                    log.error("%s %s: %s", request.method, request.url.path, exc)
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                return error(status, code, str(exc), headers)
        return error(500, "failed", str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = _validation_message(exc)
        return error(status, "bad_request" if status == 400 else "invalid", message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = f"no such endpoint: {request.method} {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        return error(exc.status_code, code, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error(500, "internal", f"internal error ({type(exc).__name__}); the server log has the details")

    if svc.settings.ui if ui is None else ui:
        from agent.server.ui import mount_ui

        mount_ui(app, svc)

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/ui/")

    return app
