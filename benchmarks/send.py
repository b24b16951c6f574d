"""The newsletter send against a local SMTP sink, beside the floor the sink allows.

    python benchmarks/send.py --subscribers 10000      # throughput (and with DKIM)
    python benchmarks/send.py --subscribers 100000 --rss-only

The sink is aiosmtpd's Sink handler in its own process, so that it does not share a GIL with
the sender. The floor is a plain smtplib loop sending the same message (one subscriber's
copy of the same issue) over one connection to the same sink, in the same run. feeder's
figure is the whole `feeder newsletter send` command: start-up, freezing the issue for every
subscriber, every ledger transition, rendering and (with --dkim) signing each copy.
"""

from __future__ import annotations

import argparse
import shutil
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WEEK = "2026-W05"  # the seed corpus's fullest week


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sink:
    """aiosmtpd accepting and discarding everything, in a child process."""

    def __init__(self) -> None:
        self.port = free_port()
        self._child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-c",
                "aiosmtpd.handlers.Sink",
                "-l",
                f"127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the SMTP sink did not start") from None
                time.sleep(0.05)

    def close(self) -> None:
        self._child.terminate()
        self._child.wait()


def empty_database(url: str) -> None:
    """Drop everything in the benchmark's PostgreSQL database, for a cold start."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP SCHEMA public CASCADE")
        db.execute("CREATE SCHEMA public")
        db.execute("DROP COLLATION IF EXISTS feeder_nocase")


def make_site(
    work: Path, name: str, port: int, subscribers: int, dkim: Path | None, state: str = ""
) -> Path:
    """A site with the seed corpus polled and `subscribers` addresses, mailing to `port`;
    its state is data/state.db, or the PostgreSQL database `state` (emptied first)."""
    site = work / name
    if site.exists():
        shutil.rmtree(site)
    (site / "data").mkdir(parents=True)
    config = (
        f'[corpus]\npath = "{ROOT / "data" / "corpus.json"}"\n'
        + (f'[state]\nurl = "{state}"\n' if state else '[state]\npath = "data/state.db"\n')
        + f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nmax_per_second = 100000\n'
    )
    if dkim is not None:
        config += f'[dkim]\ndomain = "example.org"\nselector = "bench"\nprivate_key = "{dkim}"\n'
    (site / "feeder.toml").write_text(config, encoding="utf-8")
    if state:
        empty_database(state)
        run(site, "state", "migrate")
    people = site / "people.txt"
    people.write_text("".join(f"r{i:06d}@example.org\n" for i in range(subscribers)))
    run(site, "poll")
    run(site, "subscribers", "import", str(people))
    return site


def run(site: Path, *args: str) -> tuple[float, int]:
    """One feeder command in a child process: (wall seconds, its peak RSS in KiB)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-m", "feeder", "--config", str(site / "feeder.toml"), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"feeder {' '.join(args)} failed:\n{child.stderr}")
    return wall, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def floor(site: Path, port: int, count: int) -> float:
    """Seconds for a plain smtplib loop to send one copy `count` times over one connection."""
    run(site, "newsletter", "render", "--week", WEEK)
    data = (site / "out" / "newsletter" / f"{WEEK}.eml").read_bytes()
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for i in range(count):
            client.sendmail("newsletter@example.org", [f"r{i:06d}@example.org"], data)
    return time.perf_counter() - start


def dkim_key(work: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = work / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return path


def send_figures(work: Path, subscribers: int, state: str = "") -> dict[str, float]:
    """Throughput without and with DKIM, and the floor, at `subscribers` subscribers (on the
    PostgreSQL database `state` if given)."""
    work.mkdir(parents=True, exist_ok=True)
    sink = Sink()
    try:
        plain = make_site(work, "send", sink.port, subscribers, None, state)
        base = floor(plain, sink.port, subscribers)
        wall, rss = run(plain, "newsletter", "send", "--week", WEEK)
        signed = make_site(work, "send-dkim", sink.port, subscribers, dkim_key(work), state)
        signed_wall, _ = run(signed, "newsletter", "send", "--week", WEEK)
    finally:
        sink.close()
    return {
        "floor_per_s": subscribers / base,
        "feeder_per_s": subscribers / wall,
        "dkim_per_s": subscribers / signed_wall,
        "ratio": base / wall,
        "rss_mb": rss / 1024,
    }


def rss_figure(work: Path, subscribers: int) -> tuple[float, float]:
    """(peak RSS of the send command in MB, its wall seconds) at `subscribers`."""
    work.mkdir(parents=True, exist_ok=True)
    sink = Sink()
    try:
        site = make_site(work, "send-rss", sink.port, subscribers, None)
        wall, rss = run(site, "newsletter", "send", "--week", WEEK)
    finally:
        sink.close()
    return rss / 1024, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rss-only", action="store_true")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    args = parser.parse_args()
    if args.rss_only:
        rss, wall = rss_figure(args.work, args.subscribers)
        print(f"send to {args.subscribers:,}: peak RSS {rss:,.0f} MB, {wall:,.1f} s")
        return
    f = send_figures(args.work, args.subscribers)
    print(
        f"send to {args.subscribers:,}: floor {f['floor_per_s']:,.0f}/s, "
        f"feeder {f['feeder_per_s']:,.0f}/s ({f['ratio']:.2f}× the floor), "
        f"with DKIM {f['dkim_per_s']:,.0f}/s, peak RSS {f['rss_mb']:,.0f} MB"
    )


if __name__ == "__main__":
    main()
