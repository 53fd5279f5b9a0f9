"""What the command line shows people besides plain lines: sizes, durations
and the progress bar (stderr, only on a terminal)."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import TextIO


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class ProgressBar:
    """One line on a terminal: percent, bytes, rate and ETA. Called with
    byte increments from any thread; redrawn at most ten times a second."""

    REDRAW = 0.1
    #: Seconds of history behind the rate (and so the ETA).
    WINDOW = 5.0

    def __init__(self, stream: TextIO, total: int, label: str) -> None:
        self._stream = stream
        self._total = max(total, 0)
        self._label = label if len(label) <= 32 else "…" + label[-31:]
        self._done = 0
        self._start = time.monotonic()
        self._drawn = 0.0
        self._samples: deque[tuple[float, int]] = deque([(self._start, 0)])
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self, n: int) -> None:
        with self._lock:
            if self._closed:
                return  # the line is ended: a late report must not draw again
            self._done += n
            now = time.monotonic()
            if now - self._drawn >= self.REDRAW:
                self._drawn = now
                self._draw(now, final=False)

    def close(self, completed: bool) -> None:
        """Draws the last frame (with the average rate if ``completed``) and
        ends the line; later calls draw nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if completed:
                self._done = self._total
                self._draw(time.monotonic(), final=True)
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self, now: float, final: bool) -> None:
        done = min(max(self._done, 0), self._total)
        fraction = done / self._total if self._total else 1.0
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.WINDOW:
            self._samples.popleft()
        if final:
            elapsed = max(now - self._start, 1e-9)
            rate, tail = done / elapsed, f"in {clock(elapsed)}"
        else:
            since, then = self._samples[0]
            rate = (done - then) / (now - since) if now > since else 0.0
            eta = clock((self._total - done) / rate) if rate > 0 else "-:--"
            tail = f"ETA {eta}"
        head = f"{self._label} {fraction:4.0%} "
        sizes = f"{human_size(done):>9}/{human_size(self._total)}"
        numbers = f" {sizes}  {human_size(rate):>9}/s  {tail}"
        try:
            width = os.get_terminal_size(self._stream.fileno()).columns or 80
        except (OSError, ValueError):
            width = 80
        room = max(width - 1 - len(head) - len(numbers) - 2, 10)
        filled = int(room * fraction)
        bar = "█" * filled + "░" * (room - filled)
        self._stream.write(f"\r{head}|{bar}|{numbers}"[: width + 1])
        self._stream.flush()


def resumed_note(resumed: int, size: int) -> str:
    """What a resumed transfer says: ``resumed: 14.2 of 20 GiB already here``."""
    return f"resumed: {human_size(resumed)} of {human_size(size)} already here"
