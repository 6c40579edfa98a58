"""modelstack: Pulumi components and dynamic providers for GPU inference stacks."""
