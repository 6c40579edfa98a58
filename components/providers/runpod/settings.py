"""Where the Runpod provider sends requests and which key it uses; read only inside provider calls.

Environment variables (the same names the official `runpod` Python SDK reads, so one export points
both at the same place):

- `RUNPOD_API_BASE_URL`: management API host, default `https://api.runpod.io`. REST v2 lives at
  `<base>/v2/...`, GraphQL at `<base>/graphql`. Tests point it at the fake server.
- `RUNPOD_ENDPOINT_BASE_URL`: job API base, default `https://api.runpod.ai/v2`. Only used to build an
  endpoint's URL when the API response carries no `requestUrls`.

The API key comes from the stack config (`modelstack:credentials.runpodApiKey`), else from
`RUNPOD_API_KEY`; it is never a resource input.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from components.providers import credentials as creds

API_BASE_URL_ENV = "RUNPOD_API_BASE_URL"
ENDPOINT_BASE_URL_ENV = "RUNPOD_ENDPOINT_BASE_URL"
DEFAULT_API_BASE_URL = "https://api.runpod.io"
DEFAULT_ENDPOINT_BASE_URL = "https://api.runpod.ai/v2"


def api_base_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return (env.get(API_BASE_URL_ENV) or DEFAULT_API_BASE_URL).rstrip("/")


def endpoint_base_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return (env.get(ENDPOINT_BASE_URL_ENV) or DEFAULT_ENDPOINT_BASE_URL).rstrip("/")


def api_key(provider_config: Any = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The key from a dynamic provider's configure() config, else the environment."""
    credentials = creds.from_provider_config(provider_config) if provider_config is not None else {}
    return creds.resolve(creds.RUNPOD_API_KEY, credentials, environ)


MISSING_KEY = (
    "no Runpod API key: set it with "
    f"`{creds.RUNPOD_API_KEY.set_command}` or export {creds.RUNPOD_API_KEY.env_var}"
)
