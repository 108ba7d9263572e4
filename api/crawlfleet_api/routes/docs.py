"""/docs (Swagger UI) and /redoc (ReDoc), with their scripts and styles served from
the installed `fastapi-offline` package rather than a CDN, so both work offline.

The pages' Content-Security-Policy lets them load nothing from another origin:
ReDoc's footer shows an image from its vendor's CDN, which the browser then never
fetches, and Swagger UI's validator badge, which would call out, is turned off."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)

ASSETS = files("fastapi_offline") / "static"
ASSET_NAMES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
# Both UIs start from an inline script and style themselves with inline styles;
# ReDoc builds its search index in a worker made from a blob.
POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _page(
    request: Request, render: Callable[..., HTMLResponse], options: dict[str, Any], **assets: str
) -> HTMLResponse:
    """A docs page of `render`, its `assets` (argument name to file name) served from here."""
    page = render(
        openapi_url=str(request.app.openapi_url),
        title=f"{request.app.title} API",
        **{argument: str(request.app.url_path_for("docs_asset", name=name)) for argument, name in assets.items()},
        **options,
    )
    page.headers["Content-Security-Policy"] = POLICY
    return page


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return _page(
        request,
        get_swagger_ui_html,
        {"swagger_ui_parameters": {"validatorUrl": None, "persistAuthorization": False}},
        swagger_js_url="swagger-ui-bundle.js",
        swagger_css_url="swagger-ui.css",
        swagger_favicon_url="favicon.png",
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return _page(
        request,
        get_redoc_html,
        {"with_google_fonts": False},
        redoc_js_url="redoc.standalone.js",
        redoc_favicon_url="favicon.png",
    )


@router.get("/docs/assets/{name}", name="docs_asset")
def docs_asset(name: Annotated[str, Path(max_length=64)]) -> FileResponse:
    if name not in ASSET_NAMES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no documentation asset {name!r}")
    # Versioned with the installed package, so a browser may keep them a day.
    return FileResponse(str(ASSETS / name), headers={"Cache-Control": "public, max-age=86400"})
