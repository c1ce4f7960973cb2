"""What requesters and agents send, retried the way a careful client retries.

A submission carries an Idempotency-Key and, in its description, the same key, so the record
shows which request made which ticket. A reply names the version it is based on (If-Match) and
carries a nonce. A request whose answer was lost (the worker serving it died, the database cut
the connection) is sent again unchanged: the key and If-Match make the retry safe.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.reliability.conftest import Answer, Client, NoAnswer

RETRYABLE = {409, 429, 502, 503, 504}  # 409: the same key is still being processed


@dataclass
class Submission:
    """One support request as its sender experienced it."""

    key: str
    reference: str | None = None
    position: int | None = None
    statuses: list[int | str] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.reference is not None


@dataclass
class Reply:
    """One agent reply: accepted (200), refused, or unknown (its answer was lost, then 412)."""

    reference: str
    nonce: str
    statuses: list[int | str] = field(default_factory=list)
    position: int | None = None

    @property
    def outcome(self) -> str:
        if 200 in self.statuses:
            return "accepted"
        if "lost" in self.statuses:
            return "unknown"
        return "refused"


def request_body(key: str, language: str = "en") -> dict[str, Any]:
    return {
        "email": f"learner-{key[:8]}@example.org",
        "category": "login",
        "course": "Python 101",
        "subject": "Cannot sign in",
        "description": f"The password is refused. Request {key}",
        "language": language,
    }


class Traffic:
    """Requesters and agents against one server; thread-safe; keeps every outcome."""

    def __init__(self, client: Client, agent_token: str, give_up: float = 30.0) -> None:
        self.client = client
        self.agent_token = agent_token
        self.give_up = give_up
        self.submissions: list[Submission] = []
        self.replies: list[Reply] = []
        self.failures: list[str] = []  # answers no client should ever get
        self._lock = threading.Lock()

    def _note(self, trail: list[int | str], answer: Answer | None) -> None:
        trail.append("lost" if answer is None else answer.status)
        if answer is not None and (answer.status >= 500 and answer.status != 503):
            with self._lock:
                self.failures.append(f"{answer.status} {answer.text[:300]}")

    def _send(self, method: str, path: str, body: Any = None, **options: Any) -> Answer | None:
        try:
            return self.client.request(method, path, body, **options)
        except NoAnswer:
            return None

    def submit(self) -> Submission:
        """Submit until answered, with one key for every try."""
        submission = Submission(key=uuid.uuid4().hex)
        with self._lock:
            self.submissions.append(submission)
        deadline = time.monotonic() + self.give_up
        while time.monotonic() < deadline:
            answer = self._send(
                "POST",
                "/api/v1/tickets",
                request_body(submission.key),
                headers={"Idempotency-Key": submission.key},
            )
            self._note(submission.statuses, answer)
            if answer is not None and answer.status == 201:
                submission.reference = answer.json()["reference"]
                submission.position = answer.json()["position"]
                return submission
            if answer is not None and answer.status not in RETRYABLE:
                with self._lock:
                    self.failures.append(f"submit {answer.status} {answer.text[:300]}")
                return submission
            time.sleep(random.uniform(0.1, 0.4))
        return submission

    def reply(self, reference: str) -> Reply:
        """Read the ticket, then reply based on that version; retried unchanged if unanswered."""
        reply = Reply(reference=reference, nonce=uuid.uuid4().hex)
        with self._lock:
            self.replies.append(reply)
        deadline = time.monotonic() + self.give_up
        version = None
        while version is None and time.monotonic() < deadline:
            read = self._send("GET", f"/api/v1/tickets/{reference}", token=self.agent_token)
            if read is not None and read.status == 200:
                version = read.headers["etag"]
            else:
                time.sleep(0.2)
        while version is not None and time.monotonic() < deadline:
            answer = self._send(
                "POST",
                f"/api/v1/tickets/{reference}/respond",
                {"message": f"Use the reset link. Reply {reply.nonce}"},
                token=self.agent_token,
                headers={"If-Match": version},
            )
            self._note(reply.statuses, answer)
            if answer is not None and answer.status == 200:
                reply.position = answer.json()["position"]
                return reply
            if answer is not None and answer.status not in RETRYABLE:
                return reply  # 412: someone acted first (perhaps this very reply, unanswered)
            time.sleep(random.uniform(0.1, 0.4))
        return reply

    def answered_references(self) -> list[str]:
        with self._lock:
            return [s.reference for s in self.submissions if s.reference is not None]
