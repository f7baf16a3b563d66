"""Per-resource status: conditions and revisions, and where they are kept."""
