"""Extract stage: read source systems into typed pandas frames (no transformation)."""
