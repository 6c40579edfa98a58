"""Modomo's GPU pipeline on Modal: detection, depth, ControlNet and Stable Diffusion 1.5 on a T4,
results written to Cloudflare R2 (seed: Modomo production deployment, `modal_functions/
sd_inference_complete.py`).

A stand-in for Modomo's own file, written the modelstack way: GPU, timeout, scaling and the pinned
models (`inference.modal_settings.pinned_models`) come from the stack; the R2 bucket, endpoint, CDN
domain and keys arrive in the `modomo-r2-credentials` secret the seed names, written by the stack.
Downloads land in HF_HOME on the /cache volume. The Railway API (now Cloud Run) calls `transform`
by app name with `modal.Function.from_name`.
"""

import io
import os

import modal

from inference.modal_settings import ModalSettings, pinned_models, settings_only

settings = ModalSettings.from_env()
app = modal.App(settings.app_name)

image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(
        "torch>=2.4,<3",
        "diffusers>=0.30,<1",
        "transformers>=4.45,<6",
        "controlnet-aux>=0.0.9,<1",
        "ultralytics>=8.3,<9",
        "boto3>=1.36,<2",
        "pillow>=10,<13",
    )
    .add_local_python_source("inference", ignore=settings_only)  # what Modal ships is what `up` hashes
)
environment = settings.environment or None


@app.function(
    image=image,
    gpu=settings.gpu_arg,
    secrets=[modal.Secret.from_name(n, environment_name=environment) for n in settings.secrets],
    volumes={p: modal.Volume.from_name(n, environment_name=environment) for p, n in settings.volumes.items()},
    min_containers=settings.min_containers,
    max_containers=settings.max_containers or None,
    scaledown_window=settings.scaledown_window,
    timeout=settings.timeout,
    startup_timeout=settings.startup_timeout_arg,
    env=settings.container_env(),
)
def transform(image_key: str, style: str) -> dict:
    """Restyle one uploaded room photo; returns the CDN URLs of the result and its thumbnail."""
    import boto3
    import torch
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline
    from PIL import Image

    r2 = boto3.client(
        "s3",
        endpoint_url=os.environ["R2_ENDPOINT_URL"],
        aws_access_key_id=os.environ["R2_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["R2_SECRET_ACCESS_KEY"],
        region_name="auto",
    )
    bucket = os.environ["R2_BUCKET_NAME"]
    source = Image.open(io.BytesIO(r2.get_object(Bucket=bucket, Key=image_key)["Body"].read())).convert("RGB")

    models = pinned_models()
    depth, base = models["controlnet-depth"], models["sd15"]
    controlnet = ControlNetModel.from_pretrained(depth.id, revision=depth.revision, torch_dtype=torch.float16)
    pipe = StableDiffusionControlNetPipeline.from_pretrained(
        base.id,
        revision=base.revision,
        controlnet=controlnet,
        torch_dtype=torch.float16,
    ).to("cuda")
    result = pipe(f"a {style} interior, photorealistic", image=source, num_inference_steps=20).images[0]

    key = f"results/{os.path.splitext(os.path.basename(image_key))[0]}-{style}.jpg"
    out = io.BytesIO()
    result.save(out, format="JPEG", quality=90)
    r2.put_object(Bucket=bucket, Key=key, Body=out.getvalue(), ContentType="image/jpeg")
    cdn = os.environ["CDN_DOMAIN"].rstrip("/")
    return {"transformed_url": f"{cdn}/{key}", "style": style}
