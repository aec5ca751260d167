"""PACS credentials from the environment or the settings file, never from the command line (where they
would be in the shell history and in every process listing).

Order: ``MOMMI_PACS_TOKEN`` (HTTP bearer token), then ``MOMMI_PACS_USER`` with ``MOMMI_PACS_PASSWORD`` (HTTP
basic), then the ``pacs`` key of the settings file (``mommi.feedback.store.settings_path()``), a mapping of
base URL prefix to ``{"token": ...}`` or ``{"user": ..., "password": ...}``; none: anonymous.
"""

from __future__ import annotations

import json
import os
from typing import Any

from mommi.errors import MommiError


class CredentialsError(MommiError):
    """The settings file names PACS credentials it cannot hold."""


class BearerToken:
    """requests' auth hook for ``Authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def auth_for(base_url: str, env: dict[str, str] | None = None) -> Any:
    """The requests auth for ``base_url`` (None: anonymous)."""
    from requests.auth import HTTPBasicAuth

    env = dict(os.environ) if env is None else env
    if env.get("MOMMI_PACS_TOKEN"):
        return BearerToken(env["MOMMI_PACS_TOKEN"])
    if env.get("MOMMI_PACS_USER"):
        return HTTPBasicAuth(env["MOMMI_PACS_USER"], env.get("MOMMI_PACS_PASSWORD", ""))
    entry = _settings_entry(base_url, env)
    if entry is None:
        return None
    if entry.get("token"):
        return BearerToken(str(entry["token"]))
    if entry.get("user"):
        return HTTPBasicAuth(str(entry["user"]), str(entry.get("password", "")))
    raise CredentialsError(f"the settings file's PACS entry for {base_url} has neither 'token' nor 'user'")


def _settings_entry(base_url: str, env: dict[str, str]) -> dict[str, Any] | None:
    from mommi.feedback.store import settings_path

    path = settings_path(env)
    if not path.is_file():
        return None
    try:
        pacs = json.loads(path.read_text(encoding="utf-8")).get("pacs") or {}
    except (OSError, ValueError, AttributeError) as exc:
        raise CredentialsError(f"{path}: the settings file cannot be read ({exc})") from None
    if not isinstance(pacs, dict):
        raise CredentialsError(f"{path}: 'pacs' must map base URLs to credentials")
    matches = [prefix for prefix in pacs if base_url.startswith(prefix)]
    if not matches:
        return None
    entry = pacs[max(matches, key=len)]
    if not isinstance(entry, dict):
        raise CredentialsError(f"{path}: the PACS entry for {max(matches, key=len)} must be an object")
    return entry
