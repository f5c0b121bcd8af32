"""Who may log in: a generated shared password on one machine, or OIDC in production.

The embedded default never offers an open login: even on loopback a password generated at
first start is needed. Setting ``TWINHUB_OIDC_CLIENT_ID`` (and the issuer) switches to
oauthenticator's GenericOAuthenticator, e.g. against EGI Check-in or any Keycloak realm.
"""

from __future__ import annotations

from traitlets.config import Config
from twinhub.contracts.settings import Settings
from twinhub.extensions.authenticators import PasswordAuthenticator, oidc_authenticator

from .state import Secrets


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
