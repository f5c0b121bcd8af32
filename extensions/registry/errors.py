"""Errors the registry's operations raise; ``api.py`` turns each into its HTTP status."""

from __future__ import annotations


class RegistryError(Exception):
    status = 400

    def __init__(self, detail: str | list[tuple[str, str]]):
        self.detail = detail
        super().__init__(detail if isinstance(detail, str) else "; ".join(map(str, detail)))

    def body(self) -> dict:
        if isinstance(self.detail, str):
            return {"detail": self.detail}
        return {"detail": [{"field": f, "message": m} for f, m in self.detail]}


class Invalid(RegistryError):
    """The document is wrong; ``detail`` lists ``(field, message)`` pairs."""

    status = 422


class BadRequest(RegistryError):
    status = 400


class NotFound(RegistryError):
    status = 404


class Conflict(RegistryError):
    status = 409


class Forbidden(RegistryError):
    status = 403
