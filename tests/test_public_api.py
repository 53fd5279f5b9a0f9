"""The declared public surface: ``cdn_manager.__all__`` names the whole API,
and nothing else is importable without an underscore in its path."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import cdn_manager

#: The documented submodules, besides the package itself.
PUBLIC_MODULES = {
    "cdn_manager",
    "cdn_manager.errors",
    "cdn_manager.local_server",
    "cdn_manager.local_server.__main__",
    "cdn_manager.__main__",
}


def _modules() -> list[str]:
    found = ["cdn_manager"]
    for info in pkgutil.walk_packages(cdn_manager.__path__, "cdn_manager."):
        found.append(info.name)
    return found


def test_every_module_is_documented_public_or_underscored() -> None:
    exposed = [
        name
        for name in _modules()
        if name not in PUBLIC_MODULES
        and not any(part.startswith("_") for part in name.split(".")[1:])
    ]
    assert exposed == []


def test_all_names_every_public_class_and_function_the_api_returns() -> None:
    names = set(cdn_manager.__all__)
    assert len(names) == len(cdn_manager.__all__)
    assert all(hasattr(cdn_manager, name) for name in names)
    # The exceptions module is the same hierarchy, not a second one.
    errors = importlib.import_module("cdn_manager.errors")
    for name, value in vars(errors).items():
        if inspect.isclass(value) and issubclass(value, BaseException):
            assert value.__module__ != errors.__name__ or name in names, name
    # What the faces return or take is nameable from the package.
    for face in (cdn_manager.CDNManager, cdn_manager.AsyncCDNManager):
        for method in ("plan_deploy", "deploy", "plan_pull", "pull", "stat", "check"):
            assert callable(getattr(face, method))
    for name in ("SyncPlan", "SyncReport", "Action", "ActionKind", "ObjectInfo", "AuditReport"):
        assert name in names
