"""The dashboard at `/`: plain HTML, CSS and JavaScript modules shipped in this
package (`crawlfleet_api/dashboard/`), with no build step and nothing from a CDN.

The page itself holds no data and needs no token; everything it shows comes from
the `/v1` API, called with the token the user signs in with. Its Content-Security-
Policy allows only this origin's scripts and styles, and no inline script, so text
a crawl scraped can never run as code in it."""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import FileResponse

from crawlfleet_api.deps import SettingsDep
from crawlfleet_api.schemas import DashboardSettings

router = APIRouter(include_in_schema=False)

ASSETS = files("crawlfleet_api") / "dashboard"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# The dashboard's files change with the package: a browser revalidates them each time.
HEADERS = {"Content-Security-Policy": POLICY, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _asset(name: str) -> FileResponse:
    asset = ASSETS / name
    suffix = name[name.rfind(".") :]
    if "/" in name or suffix not in MEDIA_TYPES or not asset.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dashboard file {name!r}")
    return FileResponse(str(asset), media_type=MEDIA_TYPES[suffix], headers=HEADERS)


@router.get("/")
def dashboard() -> FileResponse:
    return _asset("index.html")


@router.get("/ui/settings.json")
def dashboard_settings(settings: SettingsDep) -> DashboardSettings:
    """What the page needs before sign-in: whether it must ask for a token, and where Flower is."""
    return DashboardSettings(auth_required=bool(settings.tokens), flower_url=settings.flower_url or None)


@router.get("/ui/{name}")
def dashboard_file(name: Annotated[str, Path(max_length=64)]) -> FileResponse:
    return _asset(name)
