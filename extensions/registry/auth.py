"""Who is calling: the user's hub token, or the hub OAuth cookie of a browser.

Requests from programs carry ``Authorization: token <hub token>``; browsers go through the hub's
OAuth flow once and then carry our cookie holding their OAuth token. Either way the hub answers
who the token belongs to, with the user's groups and scopes (JupyterHub's ``HubOAuth``, whose
lookups are cached for ``TWINHUB_AUTH_CACHE_SECONDS`` and made once per token at a time:
extensions/hub_oauth.py). Permissions are decided here, in one
place, from those scopes and groups.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from tornado.web import create_signed_value, decode_signed_value
from twinhub.contracts.names import SCOPE_PROFILES_WRITE, SCOPE_TWINS_WRITE
from twinhub.contracts.text import normalize_username, username_problem

from .. import run_tickets
from ..hub_oauth import HubOAuth
from .errors import Forbidden, RegistryError

XSRF = "twinhub-xsrf"
"""Name of the signed anti-forgery value: a form field on our pages, ``X-XSRFToken`` in scripts."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_HINT = (
    "log in: send 'Authorization: token <your hub API token>' "
    "(create one at /hub/token) or open the page in a logged-in browser"
)


class Unauthenticated(RegistryError):
    status = 401


@dataclass(frozen=True)
class User:
    """A caller the hub vouched for (a user, or a service with its own token)."""

    name: str
    groups: frozenset[str]
    scopes: frozenset[str]
    kind: str
    token: str
    ticket_twin: str | None = None
    """Set for a twin's dashboard process holding a run ticket: it acts for this user in the
    runs of this twin only (extensions/run_tickets.py)."""

    @classmethod
    def from_model(cls, model: dict[str, Any], token: str) -> User:
        return cls(
            name=model["name"],
            groups=frozenset(model.get("groups") or ()),
            scopes=frozenset(model.get("scopes") or ()),
            kind=model.get("kind", "user"),
            token=token,
        )

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def is_maintainer_of(self, manifest: dict[str, Any]) -> bool:
        """A maintainer listed by hub user name, in ``github`` or ``name`` (exact match of the
        NFKC forms: the hub normalises user names the same way)."""
        listed = {
            normalize_username(str(m.get(key)))
            for m in manifest.get("maintainers", [])
            for key in ("github", "name")
            if m.get(key)
        }
        return self.name in listed

    def can_see_twin(self, manifest: dict[str, Any]) -> bool:
        visibility = manifest.get("visibility", "public")
        if visibility == "public" or self.has(SCOPE_TWINS_WRITE) or self.is_maintainer_of(manifest):
            return True
        if isinstance(visibility, dict):
            return bool(self.groups & set(visibility.get("groups", ())))
        return False

    def can_use_profile(self, profile: dict[str, Any]) -> bool:
        allowed = set(profile.get("allowed_groups") or ())
        return not allowed or self.has(SCOPE_PROFILES_WRITE) or bool(self.groups & allowed)

    def require(self, scope: str) -> None:
        if not self.has(scope):
            raise Forbidden(f"{self.name} lacks the scope {scope!r} (ask a hub admin)")


TICKET_ROUTES = frozenset(
    {
        ("POST", "/api/twins/{name}/runs"),
        ("PUT", "/api/runs/{run_id}/provenance"),
        ("GET", "/api/runs/{run_id}"),
    }
)
"""What a run ticket may do: record a run of its twin, store that run's provenance, and read
one of the user's runs of that twin (a dashboard link naming its run); the store checks the
run is of the ticket's twin and user. Routes as declared (``api.py``), after the registry's
prefix."""


def _ticket_user(ticket: run_tickets.Ticket, token: str, request: Request) -> User:
    """The ticket's user, for the routes it is good for (the route FastAPI matched: an
    authentication dependency runs after routing)."""
    route = getattr(request.scope.get("route"), "path", "")
    allowed = any(
        request.method == method and route.endswith(path) for method, path in TICKET_ROUTES
    )
    if allowed and request.path_params.get("name", ticket.twin) == ticket.twin:
        return User(ticket.user, ticket.groups, frozenset(), "user", token, ticket.twin)
    raise Forbidden(
        f"a twin's dashboard may only record runs of {ticket.twin!r}, "
        f"not {request.method} {request.url.path[:200]}"
    )


class Authenticator:
    """Turns a request into a :class:`User` through the hub, and runs the browser's OAuth."""

    def __init__(self, cache_seconds: int = 60):
        self.hub = HubOAuth(cache_max_age=cache_seconds)
        if not self.hub.api_token:
            raise RuntimeError(
                "JUPYTERHUB_API_TOKEN is not set: the registry runs as a hub-managed service "
                "(started by the hub), not on its own"
            )
        # signs our cookies; a restart invalidates them and browsers silently redo OAuth
        self.cookie_secret = secrets.token_bytes(32)
        self.ticket_secret = run_tickets.secret_from_env()

    # --- tokens --------------------------------------------------------------------------------
    def token_from(self, request: Request) -> str | None:
        match = self.hub.auth_header_pat.match(request.headers.get("Authorization", ""))
        if match:
            return match.group(1)
        cookie = request.cookies.get(self.hub.cookie_name)
        if cookie:
            value = decode_signed_value(
                self.cookie_secret, self.hub.cookie_name, cookie, max_age_days=1
            )
            if value:
                return value.decode()
        return None

    async def user(self, request: Request) -> User | None:
        """The caller, None without credentials; 403 if the token is not good for us."""
        token = self.token_from(request)
        if not token:
            return None
        if run_tickets.is_ticket(token):
            ticket = run_tickets.verify(self.ticket_secret, token)
            if ticket is None:
                raise Forbidden("this run ticket is not valid (expired?): reload the dashboard")
            return _ticket_user(ticket, token, request)
        model = await self.hub.user_for_token(token, sync=False)
        if model is None:
            raise Forbidden("the hub does not know this token (expired or revoked?)")
        if not self.hub.check_scopes(self.hub.access_scopes, model):
            raise Forbidden(f"this token lacks {' or '.join(sorted(self.hub.access_scopes))}")
        problem = username_problem(model["name"])
        if problem:  # a name from before the hub normalised them: it could pass for another
            raise Forbidden(f"{problem}; ask a hub admin to rename the account")
        return User.from_model(model, token)

    def xsrf_token(self, user: User) -> str:
        """The anti-forgery value a page hands its forms and scripts (signed, per user)."""
        return self.signed(XSRF, user.name)

    def check_xsrf(self, user: User, value: str | None) -> None:
        if self.unsigned(XSRF, value) != user.name:
            raise Forbidden(
                "missing or stale XSRF token: a browser request that changes something must "
                "send the page's token (form field 'xsrf' or header 'X-XSRFToken'); reload the page"
            )

    async def require_api_user(self, request: Request) -> User:
        """:meth:`require_user` for the REST API, with CSRF protection for browsers.

        A request authenticated by our cookie (a browser) that changes state must carry the
        XSRF header, which another site cannot read or forge; token-authenticated requests
        (programs) are not exposed to CSRF and need none.
        """
        user = await self.require_user(request)
        by_cookie = not self.hub.auth_header_pat.match(request.headers.get("Authorization", ""))
        if by_cookie and request.method not in SAFE_METHODS:
            self.check_xsrf(user, request.headers.get("X-XSRFToken"))
        return user

    async def require_user(self, request: Request) -> User:
        user = await self.user(request)
        if user is None:
            raise Unauthenticated(LOGIN_HINT)
        return user

    # --- browser OAuth -------------------------------------------------------------------------
    def signed(self, name: str, value: str) -> str:
        return create_signed_value(self.cookie_secret, name, value).decode()

    def unsigned(self, name: str, value: str | None) -> str | None:
        if not value:
            return None
        decoded = decode_signed_value(self.cookie_secret, name, value, max_age_days=1)
        return decoded.decode() if decoded else None

    def start_login(self, next_url: str) -> tuple[str, str]:
        """The hub's authorize URL to redirect to, and the state to keep in a cookie."""
        verifier, challenge, method = self.hub.generate_pkce_code_challenge()
        state = self.hub.generate_state(next_url, code_verifier=verifier)
        url = (
            f"{self.hub.login_url}&state={state}"
            f"&code_challenge={challenge}&code_challenge_method={method}"
        )
        return url, state

    async def finish_login(
        self, code: str, state: str, cookie_state: str | None
    ) -> tuple[str, str]:
        """Exchange the OAuth code for the user's token; return it and where to go next."""
        if not cookie_state or cookie_state != state:
            raise Forbidden("OAuth state does not match: open the page again to log in")
        next_url = self.hub.get_next_url(state)
        verifier = self.hub.get_code_verifier(state)
        self.hub.clear_oauth_state(state)
        token = await self.hub.token_for_code(code, code_verifier=verifier, sync=False)
        return token, next_url
