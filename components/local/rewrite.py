"""From the cloud's addresses to loopback ones, changing nothing else in an environment.

The program gives each runtime public URLs: the gateway's Cloud Run URL (workers post their
readiness callbacks to it), each Runpod endpoint's job API base, each Modal web endpoint. A local
run serves each of them on 127.0.0.1 and rewrites every occurrence of the public base URL in every
value, including inside JSON values (the gateway's MODELSTACK_MODELS, a Modal app's
MODELSTACK_MODAL_ENV), to the loopback base; paths, queries and the rest of each value stay as the
program wrote them, so a wrong path or variable still fails here as it would in the cloud. A base
only matches whole: `https://a.run.app` does not match inside `https://a.run.app.example`.

Modal mounts volumes at absolute paths (/cache); locally each mount path becomes a directory of the
run, in values that are that path or a path under it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping


def _pattern(bases: Mapping[str, str]) -> re.Pattern[str] | None:
    if not bases:
        return None
    alternatives = "|".join(re.escape(b.rstrip("/")) for b in sorted(bases, key=len, reverse=True))
    return re.compile(f"({alternatives})(?=$|[/?#\"'\\s])")


def rewrite_urls(env: Mapping[str, str], bases: Mapping[str, str]) -> dict[str, str]:
    """`env` with each public base URL (a key of `bases`) replaced by its loopback URL."""
    table = {k.rstrip("/"): v.rstrip("/") for k, v in bases.items()}
    pattern = _pattern(table)
    if pattern is None:
        return dict(env)
    return {var: pattern.sub(lambda m: table[m.group(1)], value) for var, value in env.items()}


def remap_mounts(env: Mapping[str, str], mounts: Mapping[str, str], json_vars: tuple[str, ...] = ()) -> dict[str, str]:
    """`env` with values under a mount path (a key of `mounts`) moved to its local directory.

    `json_vars` name variables holding a JSON object of string values, remapped value by value.
    """

    def remap(value: str) -> str:
        for mount, local in sorted(mounts.items(), key=lambda item: len(item[0]), reverse=True):
            if value == mount or value.startswith(mount.rstrip("/") + "/"):
                return local.rstrip("/") + value[len(mount.rstrip("/")):]
        return value

    out: dict[str, str] = {}
    for var, value in env.items():
        if var in json_vars and value:
            inner = json.loads(value)
            out[var] = json.dumps({k: remap(v) if isinstance(v, str) else v for k, v in inner.items()}, sort_keys=True)
        else:
            out[var] = remap(value)
    return out
