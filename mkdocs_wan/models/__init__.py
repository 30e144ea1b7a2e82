"""Which model a site asks for: references, fingerprints and the Wan families' rules (no torch)."""
