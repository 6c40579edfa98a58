"""The GPU worker: loads one model per container and serves it (Runpod, Modal, plain HTTP).

Import `inference.worker.core.Worker`; this package's import stays light (no torch) so entry
points and tooling can import it cheaply.
"""
