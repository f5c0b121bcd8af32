"""Who may log in: a generated shared password on one machine, or OIDC in production.

The embedded default never offers an open login: even on loopback a password generated at
first start is needed. Setting ``TWINHUB_OIDC_CLIENT_ID`` (and the issuer) switches to
oauthenticator's GenericOAuthenticator, e.g. against EGI Check-in or any Keycloak realm.
"""

from __future__ import annotations

from jupyterhub.auth import Authenticator
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from tornado import web
from traitlets.config import Config
from twinhub.contracts.settings import Settings
from twinhub.contracts.text import normalize_username, username_problem

from .state import Secrets


class SafeNames(Authenticator):
    """One name, one person: names are NFKC-normalised, then refused with a message if they
    hold invisible, control or whitespace characters.

    Without it ``ａｄａ`` (full-width) and ``ada`` followed by a zero-width space are users of
    their own, yet read as ``ada`` in run records, history and the admin page.
    """

    def normalize_username(self, username: str) -> str:
        # NFKC again after the base class's lower-casing (which may undo the normal form)
        return normalize_username(super().normalize_username(normalize_username(username)))

    def validate_username(self, username: str) -> bool:
        problem = username_problem(username)
        if problem:
            # a message on the login page (and in the API's 400), not a silent "invalid"
            raise web.HTTPError(403, "%s: use a name of visible characters without spaces", problem)
        return super().validate_username(username)


class PasswordAuthenticator(SafeNames, SharedPasswordAuthenticator):
    """The embedded default: JupyterHub's shared password, with safe names."""


def oidc_authenticator() -> type[Authenticator]:
    """oauthenticator's GenericOAuthenticator with safe names (imported only when used)."""
    from oauthenticator.generic import GenericOAuthenticator

    return type(
        "OIDCAuthenticator",
        (SafeNames, GenericOAuthenticator),
        {"__doc__": "OIDC login with safe names."},
    )


def keycloak_endpoints(issuer: str) -> dict[str, str]:
    """OIDC endpoints of a Keycloak realm (EGI Check-in's layout) under its issuer URL."""
    base = issuer.rstrip("/") + "/protocol/openid-connect"
    return {
        "authorize_url": f"{base}/auth",
        "token_url": f"{base}/token",
        "userdata_url": f"{base}/userinfo",
    }


def auth_config(settings: Settings, secrets: Secrets) -> Config:
    """The hub's authenticator configuration for these settings."""
    c = Config()
    c.Authenticator.admin_users = set(settings.admin_users)
    if settings.oidc_enabled:
        endpoints = keycloak_endpoints(settings.oidc_issuer) if settings.oidc_issuer else {}
        overrides = {
            "authorize_url": settings.oidc_authorize_url,
            "token_url": settings.oidc_token_url,
            "userdata_url": settings.oidc_userdata_url,
        }
        endpoints.update({k: v for k, v in overrides.items() if v})
        c.JupyterHub.authenticator_class = oidc_authenticator()
        oidc = c.GenericOAuthenticator
        oidc.client_id = settings.oidc_client_id
        oidc.client_secret = settings.oidc_client_secret
        oidc.oauth_callback_url = f"{settings.url}/hub/oauth_callback"
        oidc.authorize_url = endpoints["authorize_url"]
        oidc.token_url = endpoints["token_url"]
        oidc.userdata_url = endpoints["userdata_url"]
        oidc.username_claim = settings.oidc_username_claim
        oidc.scope = list(settings.oidc_scopes)
        oidc.login_service = "OIDC"
        oidc.auth_state_groups_key = "oauth_user.groups"
        oidc.manage_groups = True
        if settings.oidc_allowed_groups:
            oidc.allowed_groups = set(settings.oidc_allowed_groups)
        else:
            oidc.allow_all = True
    else:
        c.JupyterHub.authenticator_class = PasswordAuthenticator
        c.SharedPasswordAuthenticator.user_password = secrets.user_password
        c.SharedPasswordAuthenticator.admin_password = secrets.admin_password
        c.Authenticator.allow_all = True
    return c
