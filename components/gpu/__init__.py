"""GPU choice shared by every GPU provider: the catalog and the endpoint component."""
