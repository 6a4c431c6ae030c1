"""The one Ray start-up of the workspace: the extra named when Ray is missing; start, join, shut down."""

from __future__ import annotations

import sys

import pytest
from quintuple_builder import QuintupleBuilderError, ray_session, run_scans


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails
    session = ray_session()
    with pytest.raises(QuintupleBuilderError, match=r"pip install 'quintuple-builder\[ray\]'"):
        session.__enter__()
    with pytest.raises(QuintupleBuilderError, match=r"quintuple-builder\[ray\]"):
        run_scans([], executor="ray", progress=False)


@pytest.mark.slow
def test_starts_joins_and_shuts_down_only_what_it_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ray = pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not ray.is_initialized()
    with ray_session(num_cpus=1) as started:
        assert started is ray and ray.is_initialized()
        assert ray.cluster_resources()["CPU"] == 1
        with ray_session(num_cpus=4) as joined:  # joins the running instance, as it is
            assert joined.cluster_resources()["CPU"] == 1
        assert ray.is_initialized()  # the inner session did not shut down what it did not start
    assert not ray.is_initialized()
