"""A PostgreSQL cluster of the tests' own, for what the shared server cannot show: logins
with passwords. It listens on 127.0.0.1 only, on a free port, with no unix socket, and its
pg_hba.conf has one line: TCP from 127.0.0.1 with a SCRAM password. Its log records every
connection (user and database) and every statement, so a test can see who connected and
that no password reached the server.

initdb refuses to run as root, and tests and CI run as root: the server's programs run as
the `postgres` system user then, in a temporary folder it owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
HBA = "host all all 127.0.0.1/32 scram-sha-256\n"


@dataclass(frozen=True)
class Cluster:
    url: str  # the superuser's, over TCP with its password: the warehouse owner's URL
    port: int
    root: Path
    log_file: Path
    as_user: str | None  # the system user its programs run as (None: this process's)

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("no PostgreSQL server programs under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cluster_user: str | None, *args: str | Path) -> None:
    done = subprocess.run([str(a) for a in args], user=cluster_user, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(str(args[0])).name} failed: {done.stdout}{done.stderr}")


def start() -> Cluster:
    bin_dir = _bin_dir()
    as_user = SUPERUSER if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="fpwh-pgcluster-"))
    if as_user:
        account = pwd.getpwnam(as_user)
        os.chown(root, account.pw_uid, account.pw_gid)
    password = secrets.token_urlsafe(16)
    password_file = root / "superuser.password"
    password_file.write_text(password)
    if as_user:
        os.chown(password_file, account.pw_uid, account.pw_gid)
    data = root / "data"
    _run(as_user, bin_dir / "initdb", "-D", data, "-U", SUPERUSER, f"--pwfile={password_file}",
         "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
    password_file.unlink()
    (data / "pg_hba.conf").write_text(HBA)
    port = _free_port()
    log_file = root / "server.log"
    settings = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off "
                "-c log_connections=on -c log_statement=all")
    _run(as_user, bin_dir / "pg_ctl", "-D", data, "-l", log_file, "-w", "-t", "60", "-o", settings, "start")
    return Cluster(f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/postgres", port, root, log_file, as_user)


def stop(cluster: Cluster) -> None:
    try:
        _run(cluster.as_user, _bin_dir() / "pg_ctl", "-D", cluster.root / "data", "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)
