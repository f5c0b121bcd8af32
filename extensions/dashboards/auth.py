"""Hub OAuth for the dashboard router: the login round trip.

The router (:mod:`.router`) authenticates with JupyterHub's own ``HubOAuth``, as the hub's other
services do, so a browser without our cookie is sent to the hub's login and comes back to the
page it asked for. A twin's process gets the user's name and OAuth token (scoped to this service
and the registry) from the router, as Panel's signed cookies ``user`` and ``access_token``
(:class:`.server.RouterAuthProvider`): ``pn.state.user`` names the person, and run records made
for them carry their own token.
"""

from __future__ import annotations

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from tornado.web import RequestHandler

CALLBACK_PATH = "oauth_callback"
LOGIN_PATH = "login"
USER_COOKIE, TOKEN_COOKIE = "user", "access_token"
"""Panel's signed cookies behind ``pn.state.user`` and ``pn.state.access_token``."""


def login_handler(hub_auth: HubOAuth, prefix: str) -> type[RequestHandler]:
    """Start the hub's OAuth flow; the state cookie remembers the page to come back to."""

    class Login(RequestHandler):
        def get(self) -> None:
            next_url = self.get_argument("next", prefix)
            if not next_url.startswith(prefix):  # never an open redirect
                next_url = prefix
            verifier, challenge, method = hub_auth.generate_pkce_code_challenge()
            state = hub_auth.set_state_cookie(self, next_url=next_url, code_verifier=verifier)
            self.redirect(
                f"{hub_auth.login_url}&state={state}"
                f"&code_challenge={challenge}&code_challenge_method={method}"
            )

    return Login


def callback_handler(hub_auth: HubOAuth) -> type[HubOAuthCallbackHandler]:
    """JupyterHub's OAuth callback handler bound to our ``HubOAuth`` (no app settings needed)."""

    class Callback(HubOAuthCallbackHandler):
        def initialize(self) -> None:
            self.hub_auth = hub_auth

    return Callback
