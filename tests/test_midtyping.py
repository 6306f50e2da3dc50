"""The syntax checks mid-typing (codeassist/midtyping.py): the real rest of an expression is shown after a dangling
operator inside a bracket opened on an earlier line, and a suggestion that is broken in itself still is not."""

from __future__ import annotations

from codeassist import syntax
from codeassist.completion import CompletionPolicy, check_completion
from codeassist.context.languages import resolve_spec
from codeassist.engine import CompletionRequest, CompletionResult
from codeassist.midtyping import OPERAND, at, neutral_document
from codeassist.syntax_gate import gate

# the open-loop replay's inflection span, typed down to the second line of the tuple: the lines closing it do not
# exist yet, so the dangling ``+`` joins the next statement by Python's implicit line continuation
TYPING = """def irregular(singular, plural):
    if singular[0].upper() == plural[0].upper():
        PLURALS.insert(0, (
            r"{}{}$".format(singular[0].upper(), singular[1:]),
            plural[0].upper() +
        PLURALS.insert(0, (
            r"{}{}$".format(singular[0].lower(), singular[1:]),
            plural[0].lower() + plural[1:]
        ))
"""
CURSOR = TYPING.index("+\n") + 1
SPEC = resolve_spec("inflection.py", None)


def test_an_operand_is_wanted_after_operators_commas_dots_brackets_and_expression_keywords() -> None:
    for before in ("x = a +", "f(a,", "f(", "x = obj.", "    return ", "if a and ", "x = [", "y = not "):
        assert neutral_document(before + "\n", len(before)) == f"{before} {OPERAND}\n", before
    for before in ("def ", "class ", "x = 1", "x = 1.", "    pass", "import os", "# a +"[:0] + "x"):
        assert neutral_document(before + "\n", len(before)) is None, before
    assert neutral_document("x = a + b\n", len("x = a + ")) is None  # an operand is already there


def test_the_real_rest_of_the_line_passes_though_it_adds_an_error_to_the_document_as_it_is() -> None:
    assert SPEC is not None
    truth = " plural[1:]"
    spliced = TYPING[:CURSOR] + truth + TYPING[CURSOR:]
    # the case is real: counted against the document as it is, the right answer adds an error (the next line)
    assert syntax.error_count(spliced, "python") > syntax.error_count(TYPING, "python")
    mid = at(TYPING, CURSOR, "python")
    assert mid is not None and mid.accepts(truth)
    assert gate(TYPING, CURSOR, truth, SPEC).action == "pass"


def test_a_suggestion_broken_in_itself_is_still_cut_or_dropped() -> None:
    assert SPEC is not None
    # as many errors as the neutral document, but one starts inside the suggestion: cut to the part before it
    mid = at(TYPING, CURSOR, "python")
    assert mid is not None and not mid.accepts(" plural[1:] def")
    cut = gate(TYPING, CURSOR, " plural[1:] def", SPEC)
    assert (cut.action, cut.text) == ("truncated", " plural[1:]")
    assert gate(TYPING, CURSOR, " ] ]", SPEC).action == "dropped"
    # where no operand is wanted the document as it is stays the only baseline
    body = "def f(x):\n    y = 1\n    return y\n"
    assert neutral_document(body, body.index("1") + 1) is None
    assert gate(body, body.index("1") + 1, ")", SPEC).action == "dropped"


def test_the_syntax_tier_of_a_shown_completion_reads_the_document_mid_typing_too() -> None:
    # the document as it is is valid for Python too (the next line closes every bracket), so Python's own parser
    # blames the right answer for the break at the next line unless the neutral document is the baseline
    typing = (
        "def irregular(singular, plural):\n"
        "    PLURALS.insert(0, (\n"
        "        plural[0].upper() +\n"
        "    PLURALS.insert(0, (plural[0].lower() + plural[1:]))))\n"
    )
    assert syntax.python_error(typing) is None
    cursor = typing.index("+\n") + 1
    line = typing[:cursor].count("\n")
    column = cursor - (typing.rfind("\n", 0, cursor) + 1)
    request = CompletionRequest(typing, line, column, language="python")
    truth = CompletionResult(" plural[1:]", line, column)
    assert syntax.python_error(typing[:cursor] + truth.text + typing[cursor:]) is not None
    assert check_completion(request, truth, CompletionPolicy(verify="syntax"), None).show


# the replay's first keystroke there: the span's lines blank, the next statement (dedented) below them
SPAN_START = "\n".join(
    [
        "def irregular(singular, plural):",
        "    if singular[0].upper() == plural[0].upper():",
        "        PLURALS.insert(0, (",
        '            r"{}{}$".format(singular[0].upper(), singular[1:]),',
        " " * 12,
        " " * 12,
        "        PLURALS.insert(0, (",
        '            r"{}{}$".format(singular[0].lower(), singular[1:]),',
        "            plural[0].lower() + plural[1:]",
        "        ))",
        "",
    ]
)


def test_a_new_line_of_a_bracket_whose_rest_is_not_written_yet_gets_the_whole_element() -> None:
    assert SPEC is not None
    cursor = SPAN_START.index("            \n") + 12
    truth = "plural[0].upper() + plural[1:]"
    # before: cut at the "+", where the next statement joined the expression again — a worse suggestion than none
    assert gate(SPAN_START, cursor, truth, SPEC).action == "pass"
    # editing an element list (siblings below, indented as the cursor's line): a missing comma is still caught
    listing = "CASES = (\n    first,\n    \n    third,\n)\n"
    at = listing.index("    \n") + 4
    assert gate(listing, at, "second", SPEC).action == "dropped"
    assert gate(listing, at, "second,", SPEC).action == "pass"
