from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.testing.rundir import mining_run


@pytest.fixture(scope="session")
def mining_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The five-step mining scenario (read-only for tests: copy it before changing it)."""
    return mining_run(tmp_path_factory.mktemp("mining"))
