"""modelstack: Pulumi components and dynamic providers for GPU inference stacks."""

from components.providers import pickling as _pickling

# Every program, plan and test that creates dynamic resources imports this package first.
_pickling.install()
