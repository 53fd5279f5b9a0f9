"""The async face behind the sync one's names, so one test body proves both
(the ``face`` fixture in conftest.py)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

from cdn_manager import AsyncCDNManager, CDNManager


class BlockingFace:
    """An :class:`AsyncCDNManager` behind ``CDNManager``'s sync names: each
    call runs its coroutine to completion on a fresh event loop, and ``list``
    returns an iterator over what the async iteration yielded."""

    def __init__(self, manager: CDNManager) -> None:
        self.aio = AsyncCDNManager(manager)

    def __getattr__(self, name: str) -> Any:
        # Only the async face's own names: a name it lacks is an AttributeError,
        # never a silent fall-back to the sync manager.
        attr = getattr(self.aio, name)
        if name == "list":
            return lambda *args, **kwargs: iter(asyncio.run(_collect(attr(*args, **kwargs))))
        if inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: asyncio.run(attr(*args, **kwargs))
        return attr

    def close(self) -> None:
        asyncio.run(self.aio.aclose())


async def _collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]
