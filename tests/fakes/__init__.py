"""Local stand-ins for vendor APIs, each spoken to by the vendor's real client."""
