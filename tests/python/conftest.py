"""Shared fixtures: where the repository's data lives.

The data root is $HEADROOM_DATA when set, else the repository holding this file (resolved once
here, so no test walks up the tree on its own).
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def data_root() -> Path:
    return Path(os.environ.get("HEADROOM_DATA") or REPO_ROOT)


@pytest.fixture(scope="session")
def hw_files(data_root):
    files = sorted((data_root / "hw_configs").glob("*.yaml"))
    assert files, f"no hardware files under {data_root / 'hw_configs'}"
    return files


@pytest.fixture(scope="session")
def model_files(data_root):
    files = sorted((data_root / "models").glob("*.yaml"))
    assert files, f"no model files under {data_root / 'models'}"
    return files


@pytest.fixture(scope="session")
def hf_dir(data_root) -> Path:
    return data_root / "tests" / "data" / "hf"


@pytest.fixture
def h200_dict(data_root):
    yaml = pytest.importorskip("yaml")
    with open(data_root / "hw_configs" / "h200-sxm.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="session")
def headroom_cli():
    """The CLI binary named by $HEADROOM_CLI, for parity checks; those tests skip without it."""
    path = os.environ.get("HEADROOM_CLI")
    if not path or not Path(path).is_file():
        pytest.skip("set HEADROOM_CLI to the headroom binary to compare with the CLI")
    return path
