"""Run a stack's runtime on this machine: the real gateway and workers, wired as the program wires them.

    python -m components.local --stack dev

`capture` runs the real program (`__main__.py`) under Pulumi mocks and takes, for the gateway's
Cloud Run service and each model's worker (Runpod template env, Modal app settings), exactly the
environment and secret values the program registered. `contract.check` compares that with what
the gateway and the worker read. `LocalStack` starts those programs on 127.0.0.1 with that
environment, next to local stand-ins for what the clouds provide: the Firestore emulator, Runpod's
serverless job queue, Modal's web endpoint with proxy auth, and a tiny random-weight model of each
model's task in place of the Hub download.

Nothing here talks to anything but 127.0.0.1.
"""
