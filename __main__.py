"""modelstack: read and validate the stack config, build the platform, export its outputs.

All logic lives in components/; this file stays a list of wires so that every stack, from dev to
the seed systems in examples/, is expressed in config alone.
"""

import pulumi

from components.config import load_stack_config
from components.platform import Platform

config = load_stack_config()
platform = Platform("modelstack", config)

pulumi.export("environment", config.environment)
pulumi.export("serviceUrls", platform.service_urls)
pulumi.export("buckets", platform.bucket_names)
pulumi.export("images", platform.image_refs)
pulumi.export("endpoints", platform.endpoints)
pulumi.export("models", platform.models)
pulumi.export("apps", platform.app_outputs)
pulumi.export("templates", platform.template_ids)
