"""What a test does when a tool it runs is not installed: under CI
(``CI=true``, where ``.ci/run`` installs every such tool) a missing tool is
a failure, never a quiet skip; on a developer's machine the test is skipped,
saying what to install."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(message: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
