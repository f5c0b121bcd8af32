"""Request bodies, read by the routes themselves: after authentication, parsed in a thread.

A route that declares a body parameter has FastAPI parse that body on the event loop *before*
the route's dependencies (authentication among them) run: anyone with any token, even a forged
one, made the registry parse up to 1 MiB of JSON on its loop (about a second for 100,000 small
objects on a loaded machine) while every other request waited. So no route declares a body:
each write route takes :func:`json_body`, a dependency that depends on the caller's
authentication and only then reads the raw body (already bounded by
``limits.BodyLimitMiddleware``) and measures, parses and validates it in a worker thread. The
OpenAPI document still describes each body (:func:`documented`), for clients, the docs page and
schemathesis.
"""

import json
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from .errors import Invalid, validation_problems
from .limits import MAX_JSON_DEPTH, json_depth


def parse_json(raw: bytes, model: type[BaseModel] | None = None) -> Any:
    """The body as JSON (validated into ``model`` if given); 422 naming the field otherwise.

    Linear in the body's size: its depth is measured without recursion before Python's parser
    (which would recurse until ``RecursionError``) sees it.
    """
    if not raw.strip():
        raise Invalid([("(body)", "a JSON body is required")])
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise Invalid([("(body)", f"nested deeper than {MAX_JSON_DEPTH}")])
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise Invalid([("(body)", f"not valid JSON: {str(e)[:200]}")]) from None
    if model is None:
        return document
    try:
        return model.model_validate(document)
    except ValidationError as e:
        raise Invalid(validation_problems(e.errors())) from None


def json_body(
    current_user: Callable, model: type[BaseModel] | None = None, *, optional: bool = False
) -> Any:
    """A dependency giving the route its body, read only once ``current_user`` has vouched for
    the caller (a forged or missing token is answered before a byte of the body is parsed);
    ``optional``: an empty body is None."""

    async def read(request: Request, _caller: Annotated[Any, Depends(current_user)]) -> Any:
        raw = await request.body()
        if optional and not raw.strip():
            return None
        return await run_in_threadpool(parse_json, raw, model)

    return Depends(read)


MAX_FORM_FIELDS = 16
"""The largest form of the pages (a new schedule, Runs page) has 11 fields; more is none of ours."""


def parse_form(raw: bytes, names: tuple[str, ...]) -> dict[str, str]:
    """The fields ``names`` of a URL-encoded form (first value each, '' if absent); 422 beyond
    :data:`MAX_FORM_FIELDS` fields (counted before anything is split)."""
    try:
        fields = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise Invalid([("(body)", f"a form of more than {MAX_FORM_FIELDS} fields")]) from None
    return {name: fields.get(name, [""])[0] for name in names}


async def form_fields(request: Request, *names: str) -> dict[str, str]:
    """:func:`parse_form` of the request's body, in a worker thread: call it only once the
    caller is authenticated (a route that declares ``Form`` fields has FastAPI parse the form
    on the event loop before anything else)."""
    return await run_in_threadpool(parse_form, await request.body(), names)


def documented(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    """``openapi_extra`` of a route whose body :func:`json_body` reads: the body OpenAPI shows."""
    body: dict[str, Any] = {"required": True, "content": {"application/json": {"schema": schema}}}
    if description:
        body["description"] = description
    return {"requestBody": body}


def component(name: str) -> dict[str, str]:
    """A reference to a schema in the OpenAPI document's components (``app._documented_bodies``
    puts the models there)."""
    return {"$ref": f"#/components/schemas/{name}"}
