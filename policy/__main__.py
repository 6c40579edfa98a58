"""Entry point the Pulumi CLI runs for `--policy-pack policy`: builds the pack and serves it.

The rules import `components.naming` from this repository, so the repository root goes on the path;
run the pack from a checkout (`pulumi preview --policy-pack policy`), as the workflows do.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policy.context import context_from_environ
from policy.pack import PACK_NAME, build_policies, enforcement_level

context = context_from_environ(os.environ)
PolicyPack(
    name=PACK_NAME,
    policies=build_policies(context),
    enforcement_level=enforcement_level(context),
    description=(
        f"modelstack rules for stack {context.stack or '(unknown)'}: environment {context.environment} "
        f"(from {context.environment_source}), violations {context.enforcement}."
    ),
)
