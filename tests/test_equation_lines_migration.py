"""One-off check: the lines the worker attaches to equations are the app's old string-search mapping."""

from __future__ import annotations

import pytest

from app.components.painted import equation_lines
from inspectors import Request, inspect
from inspectors.catalog import list_samples
from inspectors.results import walk

SAMPLES = list_samples()


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_attached_equation_lines_are_the_old_mapping(sample):
    result = inspect(Request(source=sample.source(), filename=sample.path), use_cache=False)
    stages = [s for s in result.jaxpr_stages() if s.model is not None]
    assert stages or result.error is not None, sample.name
    for stage in stages:
        attached = {e.id: e.lines for e in walk(stage.model) if e.lines}
        assert attached == equation_lines(stage.text, stage.model), (sample.name, stage.id)
