"""The workflow integration tests share one control plane per module (tests/conftest.py)."""
