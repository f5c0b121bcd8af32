"""Run code in a kernel of a user's Jupyter server, through the hub's proxy, as a notebook does.

Starts a kernel with the server's REST API and speaks the Jupyter messaging protocol over the
kernel's websocket (JSON, as JupyterLab does), so the code sees exactly the environment of a
notebook in that server: its env, its token, its working directory.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import httpx
import websocket

from tests.support.waiting import wait_for


class KernelError(RuntimeError):
    """The code raised in the kernel; carries the traceback the user would see."""


@dataclass
class Execution:
    stdout: str = ""
    stderr: str = ""
    results: list[dict] = field(default_factory=list)


class RemoteKernel:
    def __init__(self, base_url: str, server_prefix: str, token: str, kernel_name: str = "python3"):
        self.http = httpx.Client(
            base_url=base_url.rstrip("/") + server_prefix.rstrip("/"),
            headers={"Authorization": f"token {token}"},
            timeout=60,
        )
        r = self.http.post("/api/kernels", json={"name": kernel_name})
        r.raise_for_status()
        self.kernel_id = r.json()["id"]
        ws_url = (
            str(self.http.base_url).rstrip("/").replace("http", "ws", 1)
            + f"/api/kernels/{self.kernel_id}/channels"
        )
        self.session = uuid.uuid4().hex
        self.ws = websocket.create_connection(
            ws_url, header=[f"Authorization: token {token}"], timeout=30
        )

    def execute(self, code: str, timeout: float = 300) -> Execution:
        msg_id = uuid.uuid4().hex
        self.ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": "tests",
                        "session": self.session,
                        "date": "",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": True,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        out = Execution()
        error = None
        reply = idle = False

        def progress() -> tuple[bool, bool, str]:
            """Read the next message of the kernel, if one comes within seconds; what it has
            told so far: replied?, idle?, the end of its stdout."""
            nonlocal error, reply, idle
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                msg = {}  # a quiet kernel: back to wait_for, which minds the timeout
            kind, content = msg.get("msg_type"), msg.get("content", {})
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                kind = None
            if kind == "stream":
                if content["name"] == "stdout":
                    out.stdout += content["text"]
                else:
                    out.stderr += content["text"]
            elif kind in ("execute_result", "display_data"):
                out.results.append(content["data"])
            elif kind == "error":
                error = "\n".join(content["traceback"])
            elif kind == "execute_reply":
                reply = True
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            return reply, idle, out.stdout[-2000:]

        self.ws.settimeout(5.0)
        wait_for(
            progress,
            until=lambda told: told[0] and told[1],
            timeout=timeout,
            interval=0,
            message="the kernel's reply and idle status (replied?, idle?, stdout)",
        )
        if error:
            raise KernelError(
                f"{error}\n--- stdout ---\n{out.stdout}\n--- stderr ---\n{out.stderr}"
            )
        return out

    def detach(self) -> None:
        """Disconnect but leave the kernel running (and whatever it holds, e.g. a cluster)."""
        self.ws.close()
        self.http.close()

    def close(self) -> None:
        try:
            self.ws.close()
            self.http.delete(f"/api/kernels/{self.kernel_id}")
        finally:
            self.http.close()

    def __enter__(self) -> RemoteKernel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
