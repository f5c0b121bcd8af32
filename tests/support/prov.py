"""Check a run's provenance the way someone without our code would: with the ``prov`` package.

``prov.read(source, format="json")`` must parse the document, and the document must hold what
W3C PROV says a run is: the activity, the entities it used (input data, parameters), the
entities it generated (outputs) and the agents it was associated with.
"""

from __future__ import annotations

import io
import os

import prov
from prov.model import (
    ProvActivity,
    ProvAgent,
    ProvAssociation,
    ProvDocument,
    ProvGeneration,
    ProvUsage,
)
from twinhub.twins.runs import RunRecord


def read_prov(source: str | os.PathLike[str]) -> ProvDocument:
    """``prov.read`` of a saved file (a path) or of an answer's text (a str)."""
    if isinstance(source, os.PathLike):
        return prov.read(os.fspath(source), format="json")
    return prov.read(io.StringIO(source), format="json")


def assert_describes_run(doc: ProvDocument, record: RunRecord) -> None:
    """The document says which run this was, what it used and generated, and who ran it."""
    run = f"twinhub:run/{record.id}"
    activities = [str(a.identifier) for a in doc.get_records(ProvActivity)]
    assert activities == [run], activities
    used = {str(u.args[1]) for u in doc.get_records(ProvUsage) if str(u.args[0]) == run}
    assert f"twinhub:parameters/{record.id}" in used, used
    for ref in record.inputs:
        assert f"twinhub:data/{ref.entry}/{ref.version}/{ref.checksum[:16]}" in used, used
    generated = {str(g.args[0]) for g in doc.get_records(ProvGeneration) if str(g.args[1]) == run}
    assert generated == {f"twinhub:output/{record.id}/{name}" for name in record.outputs}
    agents = {str(a.identifier) for a in doc.get_records(ProvAgent)}
    associated = {str(a.args[1]) for a in doc.get_records(ProvAssociation)}
    person = f"twinhub:user/{record.agent}"
    software = f"twinhub:software/{record.code_version}"
    assert {person, software} <= agents and {person, software} <= associated, associated
