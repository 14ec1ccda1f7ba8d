from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
sys.path.insert(0, str(REPO))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden from the current code")


# The files that take longest, longest first (as --durations measured them): the workers take whole files in
# collection order (--dist loadfile with --no-loadscope-reorder, scripts/test; xdist otherwise puts the files with
# most tests first, and the one-test benchmark files last), so a long file taken last would run alone at the end
# while the other workers sit idle.
LONGEST_FIRST = ("test_harness_rollouts.py", "test_operator_resilience.py", "test_benchmark_rollouts.py",
                 "test_benchmark_serving_throughput.py", "test_operator.py", "test_harness_autoscaling.py",
                 "test_local_strictness.py", "test_package_torch_files.py", "test_rollout_commands.py",
                 "test_benchmarks_run.py", "test_serving.py", "test_harness_serving.py", "test_cli_messages.py",
                 "test_operator_ha.py", "test_bootstrap.py", "test_rollout_harness.py", "test_checkov.py",
                 "test_chart.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)  # stable: within a file, and among the rest, the order stays as collected


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


# -- the loopback cluster (support/cluster, docs/harness.md) ------------------------------------------

@pytest.fixture(scope="session")
def runtime_image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime image's filesystem for the harness: the quickstart model baked in at models/quickstart."""
    from support.quickstart import make_quickstart

    root = tmp_path_factory.mktemp("runtime-image")
    make_quickstart(root)
    return root


@pytest.fixture
def make_cluster(tmp_path: Path):
    """Start a loopback cluster with these HarnessSettings; every one is torn down (orphans checked)."""
    from support.cluster import Cluster, HarnessSettings

    started = []

    def make(**settings):
        cluster = Cluster(HarnessSettings(**settings), tmp_path / f"cluster-{len(started)}")
        started.append(cluster)
        return cluster.__enter__()
    yield make
    for cluster in reversed(started):
        cluster.close()


@pytest.fixture
def cluster(make_cluster, runtime_image_root: Path):
    """The API, the controllers, the node and the real operator, the quickstart model in the runtime image."""
    return make_cluster(runtime_image_root=runtime_image_root)
