"""``help(client.convert_many)`` (and ``resume``) is the full documentation of the bulk call: every
parameter, the report it returns, what it raises; not a note that it delegates elsewhere."""

from __future__ import annotations

import inspect
import pydoc
import re

import pytest

from zoho_convert import StaticToken, ZohoConvertClient


@pytest.mark.parametrize("name", ["convert_many", "resume"])
def test_help_of_the_bulk_methods_documents_every_parameter(name: str) -> None:
    """help() of the method a user calls names each of its parameters under Args, the report it
    returns and the errors it raises, on the class and on a client."""
    client = ZohoConvertClient(StaticToken("1000.docs"))
    for method in (getattr(ZohoConvertClient, name), getattr(client, name)):
        doc = inspect.getdoc(method) or ""
        shown = pydoc.render_doc(method, renderer=pydoc.plaintext)
        assert " ".join(doc.split()) in " ".join(shown.split())  # help() prints this docstring
        args = doc.split("Args:", 1)[1].split("Returns:", 1)[0]
        documented = set(re.findall(r"^    (\w+): ", args, flags=re.MULTILINE))
        parameters = set(inspect.signature(method).parameters) - {"api"}
        assert parameters <= documented, f"not documented: {sorted(parameters - documented)}"
        returns = doc.split("Returns:", 1)[1].split("Raises:", 1)[0]
        assert "report" in returns.lower()
        assert "Raises:" in doc and "ValueError" in doc.split("Raises:", 1)[1]
        assert "delegat" not in doc.lower()


def test_convert_many_help_explains_its_main_options() -> None:
    """The options users reach for (``to``, ``journal``, ``settle``, ``min_credits``) are explained,
    not only listed: each says what it does."""
    doc = inspect.getdoc(ZohoConvertClient.convert_many) or ""
    for name, words in {
        "to": "target module",
        "journal": "resume",
        "settle": "SettlePolicy",
        "min_credits": "credits",
    }.items():
        entry = re.search(rf"^    {name}: (.+?)(?=^    \w+: |^\S)", doc, re.MULTILINE | re.DOTALL)
        assert entry is not None, name
        assert words in entry.group(1), (name, entry.group(1))
