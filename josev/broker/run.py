"""Start a private mosquitto for development, the demo and tests."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from josev.broker.config import BrokerFiles, write_config
from josev.bus.settings import BusSettings
from josev.reexec import die_with_parent

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto")


class BrokerError(RuntimeError):
    """mosquitto is missing or did not start."""


def find_mosquitto() -> str:
    """Path of the mosquitto binary, or a clear error telling how to get it."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for cand in MOSQUITTO_CANDIDATES:
        if Path(cand).exists():
            return cand
    raise BrokerError("mosquitto is not installed: run `make setup` (as root) or `apt-get install mosquitto`")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair() -> int:
    """A free TCP port on 127.0.0.1 whose successor is free too (services and tools listeners)."""
    for _ in range(100):
        port = free_port()
        if port < 65535:
            with contextlib.suppress(OSError), socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
                return port
    raise BrokerError("no two adjacent free TCP ports on 127.0.0.1")


class PrivateBroker:
    """A mosquitto process with a generated configuration in its own directory.

    Use as a context manager; :meth:`restart` stops it gracefully (persisting sessions) and starts it again on
    the same port, :meth:`kill` ends it with SIGKILL.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        port: int | None = None,
        unix_socket: bool | Path = False,
        services: tuple[str, ...] = (),
        persistence: bool = True,
        run_as: str | None = None,
    ) -> None:
        """``run_as``: the user mosquitto switches to after binding (it is started by root; default: the user
        we are, which keeps a root-started broker root)."""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="josev-broker-")
            directory = Path(self._tmp.name)
        self.directory = directory
        self.port = port if port is not None else free_port_pair()
        self.tools_port = self.port + 1  # the tools listener: where BusSettings.endpoint looks for it
        sock: Path | None = None
        if isinstance(unix_socket, Path):
            sock = unix_socket
        elif unix_socket:
            sock = directory / "mosquitto.sock"
        self.files: BrokerFiles = write_config(
            directory,
            port=self.port,
            socket_path=sock,
            services=services,
            persistence=persistence,
            log_file=directory / "mosquitto.log",
            # the user we are unless told (in a user namespace too)
            run_as=run_as or pwd.getpwuid(os.geteuid()).pw_name,
            tools_port=self.tools_port,
        )
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        """The broker's log so far."""
        path = self.directory / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def settings(self, service: str, **overrides: object) -> BusSettings:
        """Bus settings for ``service`` against this broker (TCP unless ``socket`` is given)."""
        values: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "tools_port": self.tools_port,
            "credentials_file": self.files.credentials,
        }
        if self.files.tools_socket is not None:
            values["tools_socket"] = self.files.tools_socket
        values.update(overrides)
        return BusSettings.model_validate(values)

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto and wait until it accepts connections."""
        binary = find_mosquitto()
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.files.config)],
            # mosquitto speaks sd_notify itself: under josev run's NOTIFY_SOCKET its bare READY=1 would come
            # before the station is ready (systemd ignores it with NotifyAccess=main; a supervisor might not)
            env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C for the station must not reach the broker before it
            preexec_fn=die_with_parent(),  # no lock is taken after fork: one prctl call
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise BrokerError(f"mosquitto exited with {self.proc.returncode}: {err}{self.log}")
            if self._listening(self.port) and self._listening(self.tools_port):
                return
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.port} within {timeout} s")

    def _listening(self, port: int) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((self.host, port), timeout=0.2):
            return True
        return False

    def stop(self, timeout: float = 5.0) -> None:
        """Stop gracefully (SIGTERM: mosquitto saves its persistence database)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def kill(self) -> None:
        """End mosquitto with SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stop()

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and remove the temporary directory."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> PrivateBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
