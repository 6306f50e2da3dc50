"""LSP suites: helpers live in ``lsphelp.py`` (importable by name: pytest puts this folder on sys.path)."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every suite here drives a real server subprocess; give them a per-test ceiling well under the global one.
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(300))
