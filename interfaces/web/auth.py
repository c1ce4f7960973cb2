"""Bearer-token authentication and role checks; the acting principal is always the token's user."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request
from flask_smorest import Blueprint

from application.users import Principal, Role
from interfaces.web.problems import Problem
from interfaces.web.services import container

F = TypeVar("F", bound=Callable[..., Any])

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="supportdesk"'}


def _principal_from_request() -> Principal | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return container().users.authenticate(token.strip())


def requires(*roles: str) -> Callable[[F], F]:
    """Allow the view only to users of these roles: 401 without a valid token, 403 otherwise."""
    allowed = frozenset(Role(r) for r in roles)

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal = _principal_from_request()
            if principal is None:
                raise Problem(
                    401, "Unauthorized", "A valid bearer token is required.", headers=_CHALLENGE
                )
            if principal.role not in allowed:
                raise Problem(403, "Forbidden", "Your role may not do this.")
            g.principal = principal
            return view(*args, **kwargs)

        role_names = sorted(r.value for r in allowed)
        guarded._supportdesk_roles = role_names  # type: ignore[attr-defined]
        # The OpenAPI document states who may call the operation and what the others get.
        documented: F = Blueprint.doc(
            security=[{"bearer": []}],
            responses={401: "UNAUTHORIZED", 403: "FORBIDDEN"},
            **{"x-roles": role_names},
        )(guarded)
        return documented

    return decorate


def current_principal() -> Principal:
    """The authenticated user of this request (inside a `requires` view)."""
    principal: Principal = g.principal
    return principal


def current_actor() -> str:
    """The acting principal's name, recorded on every event this request causes."""
    return current_principal().name


def current_role() -> str:
    """The acting principal's role."""
    return current_principal().role.value
