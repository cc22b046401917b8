"""The e2e tier loads models with the real loaders, so its archives are real SavedModels."""

from __future__ import annotations

import pytest

from tests.conftest import real_archives


@pytest.fixture(scope="session")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return real_archives(tmp_path_factory.mktemp("real-archives"))
