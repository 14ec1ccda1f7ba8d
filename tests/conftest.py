from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
sys.path.insert(0, str(REPO))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden from the current code")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def apiserver():
    from support.apiserver import LiveApiServer

    with LiveApiServer() as api:
        yield api


@pytest.fixture
def operator_process(apiserver):
    from support.operator_process import OperatorProcess

    op = OperatorProcess(apiserver)
    try:
        yield op.start()
    finally:
        op.close()
