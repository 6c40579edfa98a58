"""Dynamic providers, one module per external API.

Each module holds a small API client plus `ResourceProvider` and `Resource` classes. They import
nothing from pulumi-gcp, hold no clients at module level and build every client inside the method
that uses it, because the engine pickles provider objects and re-imports them in another process.
"""
