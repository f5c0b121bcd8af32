"""Hub OAuth for the Bokeh server: who is looking at a dashboard, and the login round trip.

Bokeh lets a server delegate authentication to an ``AuthProvider`` (``get_user_async``,
``get_login_url``); we back it with JupyterHub's own ``HubOAuth``, as the hub's other services
do, so a browser without our cookie is sent to the hub's login and comes back to the page it
asked for. The user's OAuth token (scoped to this service and the registry) is kept in Panel's
signed cookies ``user`` and ``access_token``: ``pn.state.user`` names the person, and calls to
the registry made for them (twin visibility, run records) carry their own token.
"""

from __future__ import annotations

from typing import Any

from bokeh.server.auth_provider import AuthProvider
from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from tornado.web import RequestHandler, create_signed_value
from twinhub.extensions.websecurity import COOKIE_OPTIONS

CALLBACK_PATH = "oauth_callback"
LOGIN_PATH = "login"
USER_COOKIE, TOKEN_COOKIE = "user", "access_token"
"""Panel's signed cookies behind ``pn.state.user`` and ``pn.state.access_token``."""


class HubAuthProvider(AuthProvider):
    """Bokeh authentication through the hub: unknown visitors go to ``/hub/login`` and back."""

    def __init__(self, hub_auth: HubOAuth, cookie_secret: str):
        self.hub_auth = hub_auth
        self.cookie_secret = cookie_secret
        super().__init__()

    @property
    def get_user_async(self):
        return self._user

    @property
    def get_login_url(self):
        return self._login_url

    @property
    def endpoints(self) -> list[tuple[str, type[RequestHandler]]]:
        # the OAuth callback is added by the server with the service prefix (extra_patterns)
        return []

    async def _user(self, handler: RequestHandler) -> str | None:
        model: dict[str, Any] | None = await self.hub_auth.get_user(handler, sync=False)
        if not model:
            return None
        token = self.hub_auth.get_token(handler)
        self._remember(handler, model["name"], token)
        return model["name"]

    def _login_url(self, handler: RequestHandler) -> str:
        """Our login endpoint (Panel makes it relative to the page; tornado adds ``next``)."""
        return f"/{LOGIN_PATH}"

    def _remember(self, handler: RequestHandler, name: str, token: str | None) -> None:
        """Hand the user and token to Panel's session (``pn.state.user``/``access_token``).

        Panel reads both from the request that creates the session, so they are put on this
        request as well as set for the browser's next ones.
        """
        values = {USER_COOKIE: name}
        if token:
            values[TOKEN_COOKIE] = token
        for key, value in values.items():
            signed = create_signed_value(self.cookie_secret, key, value).decode()
            handler.request.cookies[key] = signed
            if handler.get_cookie(key) != signed:
                handler.set_cookie(key, signed, path=self.hub_auth.base_url, **COOKIE_OPTIONS)


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
