"""Caption-boundary inference on Modal: a batch function on an A10G that scores frame pairs with the
fusion-LoRA checkpoint and writes results to Wasabi and Supabase (seed: "Modal Setup Guide for
Boundary Inference", `src/caption_boundaries/inference/service.py`).

A stand-in for that project's own file, written the modelstack way: the checkpoint is not uploaded
by hand (`scripts/upload_model_to_modal.py`) but seeded into the `/models` volume from the Wasabi
bucket by `pulumi up`; the `wasabi-credentials` and `supabase-credentials` secrets it reads by name,
as the project's file does, are written by the stack; GPU, timeout and the batch size come from the
stack file. The app is deployed as `boundary-inference` and Prefect calls
`run_boundary_inference_batch` with the same arguments as the project's own function.
"""

import os

import modal

from inference.modal_settings import ModalSettings, settings_only

settings = ModalSettings.from_env()
app = modal.App(settings.app_name)

image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("torch>=2.4,<3", "boto3>=1.36,<2", "supabase>=2.0,<3", "numpy>=1.26,<3", "pillow>=10,<13")
    .add_local_python_source("inference", ignore=settings_only)  # what Modal ships is what `up` hashes
)
environment = settings.environment or None


@app.function(
    image=image,
    gpu=settings.gpu_arg,
    # By name, like the project's own file; the stack creates both (modal.namedSecrets).
    secrets=[
        modal.Secret.from_name("wasabi-credentials", environment_name=environment),
        modal.Secret.from_name("supabase-credentials", environment_name=environment),
    ],
    volumes={p: modal.Volume.from_name(n, environment_name=environment) for p, n in settings.volumes.items()},
    min_containers=settings.min_containers,
    max_containers=settings.max_containers or None,
    scaledown_window=settings.scaledown_window,
    timeout=settings.timeout,
    startup_timeout=settings.startup_timeout_arg,
    env=settings.container_env(),
)
def run_boundary_inference_batch(
    video_id: str,
    tenant_id: str,
    cropped_frames_version: int | None,
    model_version: str,
    run_id: str,
    frame_pairs: list[list[str]],
) -> dict:
    """Score `frame_pairs` (keys of cropped frames in Wasabi) in batches of BOUNDARY_BATCH_SIZE with
    the checkpoint `model_version` (default BOUNDARY_MODEL_VERSION) from /models/checkpoints."""
    import io

    import boto3
    import numpy as np
    import torch
    from PIL import Image
    from supabase import create_client

    version = model_version or os.environ["BOUNDARY_MODEL_VERSION"]
    checkpoint = os.path.join(os.environ["BOUNDARY_CHECKPOINT_DIR"], version + ".pt")
    model = torch.jit.load(checkpoint, map_location="cuda").eval()
    wasabi = boto3.client(
        "s3",
        endpoint_url=os.environ["WASABI_ENDPOINT"],
        aws_access_key_id=os.environ["WASABI_ACCESS_KEY"],
        aws_secret_access_key=os.environ["WASABI_SECRET_KEY"],
        region_name=os.environ["WASABI_REGION"],
    )

    def frame(key: str) -> torch.Tensor:
        body = wasabi.get_object(Bucket=os.environ["WASABI_BUCKET"], Key=key)["Body"].read()
        return torch.from_numpy(np.asarray(Image.open(io.BytesIO(body)).convert("RGB"), dtype=np.float32) / 255)

    batch_size = int(os.environ["BOUNDARY_BATCH_SIZE"])
    scores: list[float] = []
    with torch.inference_mode():
        for start in range(0, len(frame_pairs), batch_size):
            batch = frame_pairs[start : start + batch_size]
            left = torch.stack([frame(a) for a, _ in batch]).cuda()
            right = torch.stack([frame(b) for _, b in batch]).cuda()
            scores.extend(model(left, right).sigmoid().flatten().tolist())

    supabase = create_client(os.environ["SUPABASE_URL"], os.environ["SUPABASE_SERVICE_ROLE_KEY"])
    supabase.schema(os.environ["SUPABASE_SCHEMA"]).table("boundary_runs").insert(
        {"run_id": run_id, "video_id": video_id, "tenant_id": tenant_id, "cropped_frames_version": cropped_frames_version,
         "pairs": len(scores), "model_version": version}
    ).execute()
    return {"status": "success", "run_id": run_id, "total_pairs": len(frame_pairs), "successful": len(scores)}
