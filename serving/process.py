"""Run a server in a child process on loopback: the tests, notebooks and benchmark share this."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from common import OFFLINE_ENV


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# BentoML logs this once per worker process when its model is loaded.
WORKER_READY = "Service abscopal initialized"


class ServerProcess:
    """A command serving HTTP on 127.0.0.1:``port`` in its own process group, its output in
    ``log_path``; ``wait_ready`` polls ``/readyz`` (and, with ``workers``, waits until that many
    worker processes have loaded the model: ``/readyz`` answers as soon as the first one has,
    and a worker still loading competes for the CPU); ``stop`` ends the whole group. ``env``
    overrides the environment (a value of None removes the variable)."""

    def __init__(self, command: list[str], port: int, log_path: str | Path,
                 env: dict[str, str | None] | None = None, cwd: str | Path | None = None,
                 workers: int | None = None):
        self.port = port
        self.workers = workers
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = Path(log_path)
        merged = {**os.environ, **OFFLINE_ENV, **(env or {})}
        env = {k: v for k, v in merged.items() if v is not None}
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    @classmethod
    def abscopal(cls, log_path: str | Path, *, model_uri: str | None = None,
                 tracking_uri: str | None = None, env: dict[str, str | None] | None = None):
        """``abscopal serve`` on a free loopback port (``tracking_uri``: the MLflow store)."""
        port = free_port()
        command = [sys.executable, "-m", "abscopal", "serve", "--host", "127.0.0.1",
                   "--port", str(port)]
        if model_uri:
            command += ["--model", model_uri]
        stores = ({"MLFLOW_TRACKING_URI": tracking_uri, "ABSCOPAL_TRACKING_URI": tracking_uri}
                  if tracking_uri else {})
        env = {**stores, **(env or {})}
        workers = env.get("ABSCOPAL_WORKERS")
        if workers is None:
            from common.settings import Settings

            workers = Settings().workers  # from this environment, as the child will read it
        return cls(command, port, log_path, env=env, workers=int(workers))

    def log_tail(self, chars: int | None = 3000) -> str:
        """The last ``chars`` characters of the server's output (all of it for None)."""
        text = self.log_path.read_text() if self.log_path.exists() else ""
        return text if chars is None else text[-chars:]

    def wait_ready(self, timeout: float = 180.0) -> ServerProcess:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n"
                                   f"{self.log_tail()}")
            try:
                ready = httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready and (not self.workers or self.log_tail(None).count(WORKER_READY)
                          >= self.workers):
                return self
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"the server was not ready in {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
