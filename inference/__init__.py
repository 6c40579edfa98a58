"""Code that runs in the deployed services: the GPU worker and the Cloud Run gateway."""
