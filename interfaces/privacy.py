"""The copy of a learner's data, as the command line and the API make it: the read model finds
their tickets (brought up to the log's head first), the record gives every event."""

from __future__ import annotations

from application.bootstrap import Container
from application.privacy.export import RequesterCopy, requester_copy
from projections.runner import build_runners
from projections.search import tickets_of_requester


def copy_for(container: Container, email: str) -> RequesterCopy:
    build_runners(container)["search"].catch_up()
    references = tickets_of_requester(container.engine, email)
    return requester_copy(container.audit, references, email, container.desk.clock())
