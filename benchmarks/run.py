"""dkimtool against dkimpy, side by side in one run: ``make bench`` (or ``--quick``).

Every figure comes from the same generated messages and keys, and the runs being compared
are interleaved, so that a noisy machine slows both sides alike; each figure is the median of
its runs. The batch messages live on tmpfs (/dev/shm) when there is one, so that the virtual
disk's journal does not drown the CPU work being compared (``--workdir`` to choose).

    python benchmarks/run.py            # the full benchmark (a few minutes)
    python benchmarks/run.py --quick    # a smoke run of a few seconds: checks nothing rots
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
DKIMTOOL = str(BIN / "dkimtool")
DKIMSIGN = str(BIN / "dkimsign")
HELPER = str(Path(__file__).with_name("dkimpy_batch.py"))
DOMAIN = "example.com"
WORDS = [
    *[
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "a",
        "lazy",
        "dog",
        "while",
        "mail",
        "servers",
        "relay",
        "archived",
        "messages",
    ],
    *[
        "between",
        "domains",
        "and",
        "every",
        "signature",
        "covers",
        "the",
        "body",
        "hash",
        "of",
        "canonical",
        "text",
    ],
]
FLOOR_SCRIPT = """
import hashlib, sys
import click
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, utils
with open(sys.argv[1], "rb") as f:
    key = serialization.load_pem_private_key(f.read(), None, unsafe_skip_rsa_key_validation=True)
digest = hashlib.sha256(sys.stdin.buffer.read()).digest()
sig = key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
key.public_key().verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
"""


@dataclass(frozen=True)
class Scale:
    messages: int
    parallel_messages: int
    script_sample: int
    cold_runs: int
    big_mb: int
    repeats: int
    openssl_seconds: int


FULL = Scale(2000, 10000, 60, 15, 50, 5, 3)
QUICK = Scale(40, 120, 4, 3, 2, 1, 1)


@dataclass
class Target:
    name: str
    value: float
    goal: float
    at_least: bool
    unit: str = "x"

    @property
    def met(self) -> bool:
        return self.value >= self.goal if self.at_least else self.value <= self.goal


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def say(self, text: str = "") -> None:
        self.lines.append(text)
        print(text, flush=True)


# ------------------------------------------------------------------------------------------
# Inputs


def make_message(rnd: random.Random, number: int, body_bytes: int) -> bytes:
    lines = []
    size = 0
    while size < body_bytes:
        line = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(4, 13)))
        if rnd.random() < 0.1:
            line += " \t "  # trailing white space: relaxed canonicalization has work to do
        lines.append(line)
        size += len(line) + 1
    header = (
        f"From: Sender {number} <sender{number}@{DOMAIN}>\n"
        f"To: Receiver <rcpt{number % 97}@example.net>\n"
        f"Subject: Benchmark message {number}\n"
        "Date: Tue, 24 Nov 2026 20:00:00 +0000\n"
        f"Message-ID: <{number}.bench@{DOMAIN}>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
    )
    return header.encode() + "\n".join(lines).encode() + b"\n"


def write_messages(directory: Path, count: int, seed: int = 1) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(seed)
    paths = []
    for number in range(count):
        path = directory / f"m{number:05d}.eml"
        path.write_bytes(make_message(rnd, number, 1650))
        paths.append(str(path))
    return paths


def write_big_message(path: Path, megabytes: int) -> None:
    rnd = random.Random(7)
    line_pool = [
        (" ".join(rnd.choice(WORDS) for _ in range(11)) + (" \t" if i % 9 == 0 else "")).encode()
        for i in range(997)
    ]
    block = b"\n".join(line_pool) + b"\n"
    with open(path, "wb") as handle:
        handle.write(make_message(rnd, 0, 0))
        written = 0
        while written < megabytes << 20:
            handle.write(block)
            written += len(block)


def run(cmd: Sequence[str], *, stdin: str | None = None, stdout: str | None = None) -> float:
    """Run CMD (check its exit code); return its wall time in seconds."""
    in_handle = open(stdin, "rb") if stdin else subprocess.DEVNULL  # noqa: SIM115
    out_handle = open(stdout, "wb") if stdout else subprocess.DEVNULL  # noqa: SIM115
    try:
        started = time.perf_counter()
        done = subprocess.run(
            cmd, stdin=in_handle, stdout=out_handle, stderr=subprocess.PIPE, check=False
        )
        elapsed = time.perf_counter() - started
    finally:
        for handle in (in_handle, out_handle):
            if handle is not subprocess.DEVNULL:
                handle.close()  # type: ignore[union-attr]
    if done.returncode != 0:
        raise SystemExit(
            f"benchmark: {' '.join(cmd[:4])} ... exited {done.returncode}: "
            f"{done.stderr.decode(errors='replace')[-500:]}"
        )
    return elapsed


def medians(jobs: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Run each job REPEATS times, interleaved; the median wall time of each."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(repeats):
        for name, job in jobs.items():
            times[name].append(job())
    return {name: statistics.median(values) for name, values in times.items()}


def fresh(directory: Path) -> Path:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def write_list(path: Path, items: Sequence[str]) -> str:
    path.write_text("".join(f"{item}\n" for item in items), encoding="utf-8")
    return str(path)


def openssl_rsa2048_sign_rate(seconds: int) -> float | None:
    if shutil.which("openssl") is None:
        return None
    out = subprocess.run(
        ["openssl", "speed", "-seconds", str(seconds), "rsa2048"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    match = re.search(r"^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)", out, re.MULTILINE)
    return float(match.group(1)) if match else None


def peak_rss_kb_and_wall(cmd: Sequence[str], stdin: str, stdout: str) -> tuple[int, float]:
    """Peak RSS (KiB) of CMD, measured by /usr/bin/time -v when present, else by wait4."""
    time_bin = "/usr/bin/time"
    if os.access(time_bin, os.X_OK):
        with open(stdin, "rb") as src, open(stdout, "wb") as dst:
            started = time.perf_counter()
            done = subprocess.run(
                [time_bin, "-v", *cmd], stdin=src, stdout=dst, stderr=subprocess.PIPE, check=False
            )
            wall = time.perf_counter() - started
        report = done.stderr.decode(errors="replace")
        if done.returncode != 0:
            raise SystemExit(f"benchmark: {cmd[0]} failed: {report[-500:]}")
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
        assert match is not None, report
        return int(match.group(1)), wall
    with open(stdin, "rb") as src, open(stdout, "wb") as dst:
        started = time.perf_counter()
        process = subprocess.Popen(cmd, stdin=src, stdout=dst)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"benchmark: {cmd[0]} failed with status {status}")
    return int(usage.ru_maxrss), wall


def sign_cmd(key: str, selector: str, out: Path, files: Sequence[str], jobs: int = 1) -> list[str]:
    args = ["sign", "-d", DOMAIN, "-s", selector, "-k", key, "-j", str(jobs), "-o", str(out)]
    return [DKIMTOOL, *args, *files]


def sign_timings(
    work: Path,
    scale: Scale,
    key: str,
    selector: str,
    alg: str,
    batch: Sequence[str],
    batch_list: str,
    sample: Sequence[str],
) -> dict[str, float]:
    """dkimtool -o, dkimpy's library and its dkimsign script over the same messages."""
    ours_dir, theirs_dir, script_out = work / f"o-{selector}", work / f"d-{selector}", work / "s"
    helper = [sys.executable, HELPER, "sign", batch_list]
    script = [DKIMSIGN, "--bcanon", "relaxed", "--signalg", alg, selector, DOMAIN, key]

    def dkimsign_each() -> float:
        return sum(run(script, stdin=path, stdout=str(script_out)) for path in sample)

    return medians(
        {
            "dkimtool": lambda: run(sign_cmd(key, selector, fresh(ours_dir), batch)),
            "dkimpy": lambda: run([*helper, str(fresh(theirs_dir)), selector, DOMAIN, key, alg]),
            "dkimsign": dkimsign_each,
        },
        scale.repeats,
    )


# ------------------------------------------------------------------------------------------
# The benchmark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny scale: a smoke run")
    parser.add_argument("--messages", type=int, help="batch size (default 2000)")
    parser.add_argument("--parallel-messages", type=int, help="batch for -j (default 10000)")
    parser.add_argument("--big-mb", type=int, help="size of the big message (default 50)")
    parser.add_argument("--repeats", type=int, help="runs per batch figure (default 5)")
    parser.add_argument("--workdir", help="where the messages go (default: tmpfs if any)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    scale = Scale(
        messages=args.messages or base.messages,
        parallel_messages=max(args.parallel_messages or base.parallel_messages, 2),
        script_sample=min(base.script_sample, args.messages or base.messages),
        cold_runs=base.cold_runs,
        big_mb=args.big_mb or base.big_mb,
        repeats=args.repeats or base.repeats,
        openssl_seconds=base.openssl_seconds,
    )
    parent = args.workdir or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    work = Path(tempfile.mkdtemp(prefix="dkimtool-bench-", dir=parent))
    try:
        report = Report()
        bench(work, scale, report)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def bench(work: Path, scale: Scale, report: Report) -> None:
    import cryptography
    import dkim  # noqa: F401 - fail early if the test extra is missing
    from cryptography.hazmat.backends.openssl import backend

    say = report.say
    from importlib.metadata import version

    say(
        f"dkimtool {version('dkimtool')} vs dkimpy {version('dkimpy')} - "
        f"Python {platform.python_version()}, cryptography {cryptography.__version__} "
        f"({backend.openssl_version_text()}), {os.cpu_count()} CPUs"
    )
    say(f"work dir {work}; figures are medians of interleaved runs")
    keys = work / "keys"
    keys.mkdir()
    for selector, algorithm, key_format in (("rsa", "rsa", "pkcs1"), ("ed", "ed25519", "raw")):
        run(
            [
                DKIMTOOL,
                "genkey",
                "-q",
                "-d",
                DOMAIN,
                "-s",
                selector,
                "-a",
                algorithm,
                "--key-format",
                key_format,
                "-D",
                str(keys),
            ]
        )
    rsa_key, ed_key = str(keys / "rsa.private"), str(keys / "ed.private")
    zone = keys / "keys.zone"
    zone.write_bytes((keys / "rsa.txt").read_bytes() + (keys / "ed.txt").read_bytes())

    n = scale.messages
    paths = write_messages(work / "msgs", max(n, scale.parallel_messages))
    batch = paths[:n]
    batch_list = write_list(work / "batch.list", batch)
    sample = batch[: scale.script_sample]
    small = batch[0]
    size = sum(os.path.getsize(p) for p in batch) / n
    say(f"{n} messages of {size / 1024:.1f} KiB on average, relaxed/relaxed")

    # 1 and 2: batch signing --------------------------------------------------------------
    openssl_rate = openssl_rsa2048_sign_rate(scale.openssl_seconds)
    signed_dir = work / "signed-rsa"
    for number, (label, key, selector, alg) in enumerate(
        (("RSA-2048", rsa_key, "rsa", "rsa-sha256"), ("Ed25519", ed_key, "ed", "ed25519-sha256")),
        1,
    ):
        timings = sign_timings(work, scale, key, selector, alg, batch, batch_list, sample)
        if selector == "rsa":
            shutil.copytree(work / "o-rsa", signed_dir)
        ours = n / timings["dkimtool"]
        lib = n / timings["dkimpy"]
        script = len(sample) / timings["dkimsign"]
        say()
        say(f"{number}. batch signing, {label}, {n} messages")
        say(f"   dkimtool sign -o DIR, one process {timings['dkimtool']:8.3f} s {ours:7.0f} msg/s")
        say(
            f"   dkimpy dkim.sign, one process     {timings['dkimpy']:8.3f} s {lib:7.0f} msg/s"
            f"   dkimtool {ours / lib:.1f}x"
        )
        say(
            f"   dkimpy dkimsign, one run per message ({len(sample)} runs) {script:7.1f} msg/s"
            f"   dkimtool {ours / script:.0f}x"
        )
        if selector == "rsa":
            report.targets.append(Target("batch RSA-2048 signing vs dkimpy", ours / lib, 13, True))
            if openssl_rate:
                share = ours / openssl_rate
                say(f"   = {share:.0%} of the raw OpenSSL sign rate ({openssl_rate:.0f}/s)")
                report.targets.append(
                    Target("batch RSA-2048 signing vs raw OpenSSL", share * 100, 50, True, "%")
                )

    # 3: batch verification ------------------------------------------------------------------
    signed = sorted(str(p) for p in signed_dir.iterdir())
    signed_list = write_list(work / "signed.list", signed)
    timings = medians(
        {
            "dkimtool": lambda: run([DKIMTOOL, "verify", "--dns-file", str(zone), *signed]),
            "dkimtool -j 2": lambda: run(
                [DKIMTOOL, "verify", "-j", "2", "--dns-file", str(zone), *signed]
            ),
            "dkimpy": lambda: run([sys.executable, HELPER, "verify", signed_list, str(zone)]),
        },
        scale.repeats,
    )
    ours, lib = n / timings["dkimtool"], n / timings["dkimpy"]
    say()
    say(f"3. batch verification, RSA-2048, {n} messages, keys from --dns-file (all pass)")
    say(f"   dkimtool verify FILE..., one process {timings['dkimtool']:8.3f} s {ours:9.0f} msg/s")
    say(
        f"   dkimpy dkim.verify, one process      {timings['dkimpy']:8.3f} s {lib:9.0f} msg/s"
        f"   dkimtool {ours / lib:5.1f}x"
    )
    both = n / timings["dkimtool -j 2"]
    say(
        f"   (information) dkimtool verify -j 2   {timings['dkimtool -j 2']:8.3f} s"
        f" {both:9.0f} msg/s   dkimtool {both / lib:5.1f}x"
    )
    report.targets.append(Target("batch verification vs dkimpy", ours / lib, 4, True))

    # 4: cold start ------------------------------------------------------------------------
    floor_script = work / "floor.py"
    floor_script.write_text(FLOOR_SCRIPT, encoding="utf-8")
    timings = medians(
        {
            "dkimtool": lambda: run(
                [DKIMTOOL, "sign", "-d", DOMAIN, "-s", "rsa", "-k", rsa_key], stdin=small
            ),
            "dkimsign": lambda: run(
                [DKIMSIGN, "--bcanon", "relaxed", "rsa", DOMAIN, rsa_key], stdin=small
            ),
            "floor": lambda: run([sys.executable, str(floor_script), rsa_key], stdin=small),
            "python": lambda: run([sys.executable, "-c", "pass"]),
        },
        scale.cold_runs,
    )
    ratio = timings["dkimtool"] / timings["dkimsign"]
    say()
    say(f"4. cold start: one small message on stdin, RSA-2048, median of {scale.cold_runs} runs")
    say(
        f"   dkimtool sign < small.eml            {timings['dkimtool'] * 1000:8.1f} ms"
        f"   {ratio:.2f}x dkimsign's time"
    )
    say(f"   dkimsign < small.eml                 {timings['dkimsign'] * 1000:8.1f} ms")
    say(
        f"   floor: python+click+cryptography+one sign {timings['floor'] * 1000:5.1f} ms"
        f"   {timings['floor'] / timings['dkimsign']:.2f}x dkimsign's time"
    )
    say(f"   python -c pass                       {timings['python'] * 1000:8.1f} ms")
    report.targets.append(Target("cold start vs dkimsign", ratio, 0.6, False))

    # 5: one big message ---------------------------------------------------------------------
    big = work / "big.eml"
    write_big_message(big, scale.big_mb)
    big_size = big.stat().st_size
    out = str(work / "big.out")
    ours_runs = [
        peak_rss_kb_and_wall(
            [DKIMTOOL, "sign", "-d", DOMAIN, "-s", "rsa", "-k", rsa_key], str(big), out
        )
        for _ in range(scale.repeats)
    ]
    theirs_runs = [
        peak_rss_kb_and_wall(
            [DKIMSIGN, "--bcanon", "relaxed", "rsa", DOMAIN, rsa_key], str(big), out
        )
        for _ in range(max(1, scale.repeats - 2))
    ]
    ours_rss, ours_wall = max(r[0] for r in ours_runs), statistics.median(r[1] for r in ours_runs)
    their_rss = max(r[0] for r in theirs_runs)
    their_wall = statistics.median(r[1] for r in theirs_runs)
    mib = big_size / (1 << 20)
    say()
    say(f"5. one {mib:.0f} MiB message (stdin to stdout), RSA-2048")
    say(
        f"   dkimtool sign   {ours_wall:7.2f} s   peak RSS {ours_rss / 1024:6.0f} MiB"
        f"   ({ours_rss / 1024 - mib:.0f} MiB above the message size)"
    )
    say(
        f"   dkimsign        {their_wall:7.2f} s   peak RSS {their_rss / 1024:6.0f} MiB"
        f"   dkimtool {their_wall / ours_wall:.1f}x faster"
    )
    report.targets.append(
        Target("50 MB peak RSS above the message size", ours_rss / 1024 - mib, 64, False, " MiB")
    )
    report.targets.append(Target("50 MB signing vs dkimsign", their_wall / ours_wall, 1, True))

    # 6: the ceiling -------------------------------------------------------------------------
    say()
    if openssl_rate:
        say(f"6. ceiling: openssl speed rsa2048: {openssl_rate:.0f} RSA-2048 signatures/s per core")
    else:
        say("6. ceiling: openssl not found")

    # 7: -j 2 against -j 1 ---------------------------------------------------------------------
    many = paths[: scale.parallel_messages]
    par_dir = work / "par"
    timings = medians(
        {
            "1": lambda: run(sign_cmd(rsa_key, "rsa", fresh(par_dir), many, 1)),
            "2": lambda: run(sign_cmd(rsa_key, "rsa", fresh(par_dir), many, 2)),
        },
        scale.repeats,
    )
    speedup = timings["1"] / timings["2"]
    say()
    say(f"7. dkimtool sign -o, RSA-2048, {len(many)} messages")
    say(f"   -j 1   {timings['1']:7.2f} s {len(many) / timings['1']:8.0f} msg/s")
    say(f"   -j 2   {timings['2']:7.2f} s {len(many) / timings['2']:8.0f} msg/s   {speedup:.2f}x")
    report.targets.append(Target("-j 2 vs -j 1", speedup, 1.7, True))

    say()
    if scale == FULL:
        say("targets:")
    else:  # start-up and pool set-up dominate a small batch: its ratios mean nothing
        say("targets (set for the full scale; this run is smaller, so MISSED is expected):")
    for target in report.targets:
        goal = f"{'>=' if target.at_least else '<='} {target.goal:g}{target.unit}"
        state = "met   " if target.met else "MISSED"
        say(f"   {state} {target.name}: {target.value:.2f}{target.unit} (goal {goal})")


if __name__ == "__main__":
    sys.exit(main())
