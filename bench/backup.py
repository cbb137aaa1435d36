"""`python -m bench.backup [--size-gib 2] [--files N]`: how fast the backup program moves an app's files.

On a local S3 server of its own (versitygw, tests/harness/s3.py) and a data set of random bytes
(nothing compresses), each run is a process of its own, timed from start to exit, with its peak RSS:

- *plain*: `tar -cf - -C DIR .` piped into boto3's `upload_fileobj` (its default TransferConfig),
  and back, `download_fileobj` streaming into `tar -xf -`: what a plain client reaches;
- *ours*: `python -m cloudron_operator backup create`, then `backup restore` into a fresh directory;
- *ours, encrypted*: the same with CLOUDRON_BACKUP_PASSWORD.

Every restored tree is compared with the source (every path and size, the SHA-256 of a sample of
files): a broken run fails the bench instead of counting as fast. Prints a Markdown table, appends
a JSON line to bench/results/backup-<date>.jsonl, and exits 1 when a run failed. Method:
docs/benchmarks.md#backup-throughput-python--m-benchbackup-2026-12-03.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final, NoReturn

from tests.harness.binaries import pinned_versions
from tests.harness.s3 import S3Server, create_bucket, s3_client, start_s3, stop_s3
from tests.paths import REPO

from cloudron_operator.backup.crypto import MAGIC
from cloudron_operator.backup.index import FILES_OBJECT, backup_folder

MIB: Final = 1024 * 1024
GIB: Final = 1024 * MIB
RESULTS_DIR: Final = REPO / "bench" / "results"
BUCKET: Final = "bench"
PREFIX: Final = "bench/"
PLAIN_OBJECT: Final = "plain.tar"
PASSWORD: Final = "bench password, not a secret"  # noqa: S105 - the bench's own throwaway store
WRITE_SIZE: Final = 4 * MIB
SAMPLE: Final = 64  # files whose SHA-256 a restore must match (the largest one always among them)
SEED: Final = 20261204
TIME: Final = Path("/usr/bin/time")
POLL_SECONDS: Final = 0.05
ARMS: Final = ("plain", "ours", "ours, encrypted")
TARGET_RATIO: Final = 0.7
TARGET_RSS_MIB: Final = 150.0
_CHILD_ENV_PREFIX: Final = "CLOUDRON_BACKUP_"


# -- the data set ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    root: Path
    sizes: dict[str, int]  # relative path -> bytes
    sample: dict[str, str]  # relative path -> SHA-256

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    def describe(self) -> str:
        ordered = sorted(self.sizes.values())
        large = sum(1 for size in ordered if size >= 64 * MIB)
        small = sum(1 for size in ordered if size < MIB)
        return (
            f"{len(ordered)} files, {self.total / GIB:.2f} GiB of os.urandom bytes: {large} of 64 MiB or "
            f"more ({sum(s for s in ordered if s >= 64 * MIB) / GIB:.2f} GiB, the largest "
            f"{ordered[-1] / MIB:.0f} MiB), {small} under 1 MiB "
            f"(median {statistics.median(ordered) / 1024:.0f} KiB); "
            f"{len({Path(p).parent for p in self.sizes})} directories"
        )


def plan_sizes(total: int, files: int, rng: random.Random) -> list[int]:
    """Sizes of `files` files holding `total` bytes: half in 4 large files, 30% in a medium 2.5% of
    the files, 20% over the many small ones (log-normal, from a few KiB to a few MiB)."""
    large = min(4, files)
    medium = min(files - large, files // 40)
    small = files - large - medium
    groups = [
        (large, 0.5, [1.0] * large),
        (medium, 0.3, [rng.uniform(0.5, 1.5) for _ in range(medium)]),
        (small, 0.2, [rng.lognormvariate(0.0, 1.2) for _ in range(small)]),
    ]
    share_sum = sum(share for count, share, _ in groups if count)
    sizes: list[int] = []
    for count, share, weights in groups:
        if count:
            weight_sum = sum(weights)
            sizes.extend(int(total * share / share_sum * weight / weight_sum) for weight in weights)
    if sizes:
        sizes[0] += total - sum(sizes)
    return sizes


def make_data_set(root: Path, total: int, files: int) -> DataSet:
    rng = random.Random(SEED)  # noqa: S311 - sizes and a sample, not a secret
    sizes: dict[str, int] = {}
    for index, size in enumerate(plan_sizes(total, files, rng)):
        relative = f"d{index % 20:02d}/s{index // 20 % 5}/f{index:05d}.bin"
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            left = size
            while left:
                left -= out.write(os.urandom(min(left, WRITE_SIZE)))
        sizes[relative] = size
    largest = max(sizes, key=lambda name: sizes[name])
    others = sorted(name for name in sizes if name != largest)
    chosen = [largest, *rng.sample(others, min(SAMPLE - 1, len(others)))]
    return DataSet(root, sizes, {name: _sha256(root / name) for name in chosen})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(WRITE_SIZE):
            digest.update(block)
    return digest.hexdigest()


def differences(data: DataSet, restored: Path) -> str:
    """What differs between a restored tree and the data set ("" when nothing does)."""
    found: dict[str, int] = {}
    for directory, _subdirs, files in os.walk(restored):
        for name in files:
            path = Path(directory) / name
            found[path.relative_to(restored).as_posix()] = path.lstat().st_size
    missing = sorted(set(data.sizes) - set(found))
    extra = sorted(set(found) - set(data.sizes))
    resized = sorted(name for name in set(data.sizes) & set(found) if data.sizes[name] != found[name])
    problems = [
        f"{len(items)} {what} (first: {items[0]})"
        for what, items in (("missing", missing), ("unexpected", extra), ("of another size", resized))
        if items
    ]
    if not problems:
        changed = sorted(name for name, digest in data.sample.items() if _sha256(restored / name) != digest)
        if changed:
            problems.append(
                f"{len(changed)} of {len(data.sample)} sampled files differ (first: {changed[0]})"
            )
    return "; ".join(problems)


# -- one measured process ---------------------------------------------------------------------------


@dataclass
class Run:
    repeat: int
    arm: str  # one of ARMS
    direction: str  # create | restore
    seconds: float = 0.0
    peak_rss_mib: float | None = None
    cpu_seconds: float | None = None
    stored_bytes: int | None = None
    error: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error)


def measure(run: Run, argv: list[str], env: Mapping[str, str], log: Path) -> None:
    """Run `argv` to its end: wall seconds, peak RSS and CPU into `run`; its output into `log`.

    Under /usr/bin/time: %M is the largest resident set of the process and the children it waited
    for (tar, for the plain runs), not their sum. Without it, /proc/<pid>/status's VmHWM is polled.
    """
    stats = log.with_suffix(".time")
    timed = TIME.exists()
    command = [str(TIME), "-f", "%M %U %S", "-o", str(stats), *argv] if timed else argv
    peak_kib, cpu = 0, 0.0
    os.sync()  # the previous run's dirty pages are not this run's to write back
    with log.open("w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=dict(env), cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        try:
            while process.poll() is None:
                if not timed:
                    peak_kib, cpu = _poll(process.pid, peak_kib, cpu)
                time.sleep(POLL_SECONDS)
        except BaseException:
            process.kill()
            process.wait()
            raise
        run.seconds = time.perf_counter() - started
    if timed and stats.exists():
        last = stats.read_text().strip().splitlines()[-1].split()  # "Command exited with ..." first
        peak_kib, cpu = int(last[0]), float(last[1]) + float(last[2])
    run.peak_rss_mib = peak_kib / 1024 if peak_kib else None
    run.cpu_seconds = cpu or None
    if process.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        run.error = f"exit status {process.returncode}: {tail[0][:200]}"


def _poll(pid: int, peak_kib: int, cpu: float) -> tuple[int, float]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak_kib = max(peak_kib, int(line.split()[1]))
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        pass  # it has just exited
    return peak_kib, cpu


# -- the runs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    server: S3Server
    data: DataSet
    work: Path
    keep: bool
    app_uid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def env(self, folder: str, directory: Path) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_CHILD_ENV_PREFIX)}
        return {
            **base,
            "CLOUDRON_BACKUP_ENDPOINT": self.server.endpoint,
            "CLOUDRON_BACKUP_BUCKET": BUCKET,
            "CLOUDRON_BACKUP_PREFIX": PREFIX,
            "CLOUDRON_BACKUP_ACCESS_KEY_ID": self.server.access_key,
            "CLOUDRON_BACKUP_SECRET_ACCESS_KEY": self.server.secret_key,
            "CLOUDRON_BACKUP_FOLDER": folder,
            "CLOUDRON_BACKUP_DIR_DATA": str(directory),
            "CLOUDRON_BACKUP_SQLITE_PATHS": "[]",
            "CLOUDRON_BACKUP_ADDONS": "[]",
            "CLOUDRON_BACKUP_APP_UID": self.app_uid,
        }

    def record(self, name: str) -> str:
        app = {"name": "files", "namespace": "bench", "uid": self.app_uid, "version": "1.0.0"}
        return json.dumps(
            {
                "backup": {"name": name, "namespace": "bench", "uid": str(uuid.uuid4()), "reason": "manual"},
                "app": {**app, "image": "bench/files:1", "manifest": {}, "spec": {}},
            }
        )

    def round_trip(self, repeat: int, arm: str) -> tuple[Run, Run]:
        """Create, then restore into a fresh directory, check it; remove both unless --keep."""
        slug = f"r{repeat}-{arm.replace(', ', '-')}"
        folder = backup_folder("bench", "files", slug)
        made, back = Run(repeat, arm, "create"), Run(repeat, arm, "restore")
        target = self.work / "restored" / slug / "data"
        target.mkdir(parents=True)
        if arm == "plain":
            program = [sys.executable, "-m", "bench.backup", "plain"]
            create_env = self.env(folder, self.data.root)
            restore_env = self.env(folder, target)
        else:
            program = [sys.executable, "-m", "cloudron_operator", "backup"]
            create_env = {**self.env(folder, self.data.root), "CLOUDRON_BACKUP_RECORD": self.record(slug)}
            restore_env = self.env(folder, target)
            if arm == "ours, encrypted":
                create_env["CLOUDRON_BACKUP_PASSWORD"] = restore_env["CLOUDRON_BACKUP_PASSWORD"] = PASSWORD
        say(f"#{repeat} {arm}: create")
        measure(made, [*program, "create"], create_env, self.work / f"{slug}-create.log")
        made.stored_bytes = self._stored(folder)
        if not made.failed and arm != "plain":
            made.error = self._check_encryption(folder, encrypted=arm == "ours, encrypted")
        if not made.failed:
            say(f"#{repeat} {arm}: restore")
            measure(back, [*program, "restore"], restore_env, self.work / f"{slug}-restore.log")
            if not back.failed:
                back.error = differences(self.data, target)
        else:
            back.error = "not run: the create failed"
        if not self.keep:
            shutil.rmtree(target.parent)
            self._delete(folder)
        for run in (made, back):
            if run.failed:
                say(f"#{repeat} {arm}: {run.direction} FAILED: {run.error}")
        return made, back

    def _stored(self, folder: str) -> int:
        client = s3_client(self.server)
        listing = client.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX + folder)
        return sum(int(item["Size"]) for item in listing.get("Contents", []))

    def _check_encryption(self, folder: str, *, encrypted: bool) -> str:
        """The files object is encrypted exactly when the run says so (its first bytes tell)."""
        head = (
            s3_client(self.server)
            .get_object(Bucket=BUCKET, Key=PREFIX + folder + FILES_OBJECT, Range=f"bytes=0-{len(MAGIC) - 1}")[
                "Body"
            ]
            .read()
        )
        if (head == MAGIC) != encrypted:
            return f"{FILES_OBJECT} is {'not ' if encrypted else ''}encrypted"
        return ""

    def _delete(self, folder: str) -> None:
        client = s3_client(self.server)
        for item in client.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX + folder).get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])


# -- the plain baseline, as a process of its own (`python -m bench.backup plain create|restore`) --------


class _PipeWriter:
    """download_fileobj's target: a write-only, non-seekable stream into tar's stdin."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._pipe = pipe

    def write(self, data: bytes) -> int:
        return self._pipe.write(data)


def plain(action: str, env: Mapping[str, str]) -> int:
    """tar and boto3's managed transfer with its defaults, configured by the CLOUDRON_BACKUP_* variables."""
    server = S3Server(
        env["CLOUDRON_BACKUP_ENDPOINT"],
        env["CLOUDRON_BACKUP_ACCESS_KEY_ID"],
        env["CLOUDRON_BACKUP_SECRET_ACCESS_KEY"],
        directory="",
        pid=0,
    )
    client = s3_client(server)
    bucket = env["CLOUDRON_BACKUP_BUCKET"]
    key = env["CLOUDRON_BACKUP_PREFIX"] + env["CLOUDRON_BACKUP_FOLDER"] + PLAIN_OBJECT
    directory = env["CLOUDRON_BACKUP_DIR_DATA"]
    if action == "create":
        tar = subprocess.Popen(["tar", "-cf", "-", "-C", directory, "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        client.upload_fileobj(tar.stdout, bucket, key)
    else:
        tar = subprocess.Popen(["tar", "-xf", "-", "-C", directory], stdin=subprocess.PIPE)
        assert tar.stdin is not None
        client.download_fileobj(bucket, key, _PipeWriter(tar.stdin))
        tar.stdin.close()
    status = tar.wait()
    if status != 0:
        print(f"plain {action} failed: tar exited with {status}", file=sys.stderr)
        return 1
    return 0


# -- the report -----------------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def _ratio(run: Run, runs: list[Run]) -> float | None:
    base = next(
        (r for r in runs if r.arm == "plain" and r.direction == run.direction and r.repeat == run.repeat),
        None,
    )
    if base is None or base.failed or run.failed or not run.seconds:
        return None
    return base.seconds / run.seconds


def table(runs: list[Run], total: int) -> str:
    lines = [
        f"| run | seconds | MiB/s | ratio to plain (target ≥ {TARGET_RATIO}x) | "
        f"peak RSS MiB (target < {TARGET_RSS_MIB:.0f}) | CPU s | stored MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    repeats = max((run.repeat for run in runs), default=1)
    for direction in ("create", "restore"):
        for arm in ARMS:
            for run in sorted(
                (r for r in runs if r.arm == arm and r.direction == direction), key=lambda r: r.repeat
            ):
                label = f"{direction}: {arm}" + (f" #{run.repeat}" if repeats > 1 else "")
                if run.failed:
                    lines.append(f"| {label} | {run.seconds:.1f} | FAILED: {run.error} | | | | |")
                    continue
                ratio = _ratio(run, runs)
                stored = "" if run.stored_bytes is None else f"{run.stored_bytes / MIB:.0f}"
                lines.append(
                    f"| {label} | {run.seconds:.1f} | {total / MIB / run.seconds:.0f} | "
                    f"{'' if ratio is None else f'{ratio:.2f}x'} | {_num(run.peak_rss_mib, 0)} | "
                    f"{_num(run.cpu_seconds, 1)} | {stored} |"
                )
            if repeats > 1:
                lines.append(_median_row(direction, arm, runs, total))
    return "\n".join(lines)


def _median_row(direction: str, arm: str, runs: list[Run], total: int) -> str:
    done = [r for r in runs if r.arm == arm and r.direction == direction and not r.failed]
    if not done:
        return f"| {direction}: {arm}, median | | | | | | |"
    seconds = statistics.median(r.seconds for r in done)
    ratios = [ratio for r in done if (ratio := _ratio(r, runs)) is not None]
    rss = [r.peak_rss_mib for r in done if r.peak_rss_mib is not None]
    return (
        f"| **{direction}: {arm}, median** | {seconds:.1f} | {total / MIB / seconds:.0f} | "
        f"{f'{statistics.median(ratios):.2f}x' if ratios else ''} | "
        f"{f'{max(rss):.0f} (max)' if rss else ''} | | |"
    )


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _code() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no", "--", "operator/cloudron_operator/backup")
    return {"commit": git("rev-parse", "--short", "HEAD"), "backup_code_uncommitted": bool(changed)}


def _context(argv: Sequence[str], data: DataSet, code: dict[str, Any], work: Path) -> list[str]:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    dirty = " (backup code with uncommitted changes)" if code["backup_code_uncommitted"] else ""
    return [
        f"`{' '.join(['python -m bench.backup', *argv])}`",
        f"- machine: {os.cpu_count()} CPUs, {memory:.0f} GiB RAM, load {os.getloadavg()[0]:.2f} at the "
        f"start, shared; the data set, the store and the restores on the same disk ({work})",
        f"- code: {code['commit']}{dirty}",
        f"- data set: {data.describe()}",
        f"- store: versitygw {pinned_versions().get('VERSITYGW_VERSION', '?')} (posix backend) on loopback; "
        "plain = tar + boto3's default TransferConfig (8 MiB parts, 10 threads); ours: 8 MiB parts, "
        "3 in flight",
        "- each run is a process, timed from its start to its exit (interpreter start-up included: "
        "about 0.4 s for both); peak RSS: /usr/bin/time %M (the largest of the process and tar, "
        "not their sum)",
    ]


# -- main ------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.backup", description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=2.0, help="bytes of the data set, GiB (2)")
    parser.add_argument("--files", type=int, default=2000, help="files of the data set (2000)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every run, interleaved (1)")
    parser.add_argument("--keep", action="store_true", help="leave the work directory (data set, store)")
    parser.add_argument("--no-save", action="store_true", help="print only; do not append to bench/results")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["plain"] and len(arguments) == 2 and arguments[1] in ("create", "restore"):
        return plain(arguments[1], os.environ)
    args = parse_args(arguments)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    total = int(args.size_gib * GIB)
    work = Path(tempfile.mkdtemp(prefix="cloudron-bench-backup-"))
    # The data set, one stored copy and one restored tree at a time (--keep: all of them).
    needed = total * ((1 + 6 * args.repeat) if args.keep else 3) + GIB // 2
    free = shutil.disk_usage(work).free
    if free < needed:
        shutil.rmtree(work)
        print(
            f"error: {work.parent} has {free / GIB:.1f} GiB free, the bench needs {needed / GIB:.1f} GiB: "
            "use a smaller --size-gib",
            file=sys.stderr,
        )
        return 2
    started = datetime.now(UTC)
    server: S3Server | None = None
    runs: list[Run] = []
    try:
        server = start_s3(work / "s3")
        create_bucket(server, BUCKET)
        say(f"writing {total / GIB:.2f} GiB in {args.files} files under {work / 'source'}")
        data = make_data_set(work / "source", total, args.files)
        code = _code()
        header = _context(arguments, data, code, work)
        bench = Bench(server, data, work, args.keep)
        for repeat in range(1, args.repeat + 1):
            # Each round starts with another arm, so no arm always runs first (or after the same one).
            shift = (repeat - 1) % len(ARMS)
            for arm in ARMS[shift:] + ARMS[:shift]:
                runs.extend(bench.round_trip(repeat, arm))
    finally:
        if server is not None:
            stop_s3(server, remove_data=False)
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    title = f"## Backup throughput, {started:%Y-%m-%d %H:%M} UTC"
    text = "\n".join([title, "", *header, "", table(runs, data.total)])
    print("\n" + text, flush=True)
    if not args.no_save:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        results = RESULTS_DIR / f"backup-{started:%Y-%m-%d}.jsonl"
        line = {
            "started": started.isoformat(timespec="seconds"),
            "command": header[0].strip("`"),
            "machine": {
                "cpus": os.cpu_count(),
                "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB, 1),
            },
            "code": code,
            "data": {"files": len(data.sizes), "bytes": data.total},
            "runs": [
                {
                    **asdict(run),
                    "mib_per_second": data.total / MIB / run.seconds if run.seconds else None,
                    "ratio_to_plain": _ratio(run, runs),
                }
                for run in runs
            ],
            "table": text,
        }
        with results.open("a") as out:
            out.write(json.dumps(line) + "\n")
        say(f"appended to {results.relative_to(REPO)}")
    failed = [run for run in runs if run.failed]
    if failed:
        print(f"error: {len(failed)} run(s) failed or restored another tree: see the table", file=sys.stderr)
        return 1
    return 0


def _exit_on_signal(signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
