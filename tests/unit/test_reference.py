import random
import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.reference import ALPHABET, REFERENCE_NAMESPACE, InvalidReference, Reference

KNOWN = "CM-7K3F-Q2XP"

references = st.builds(Reference.generate, st.randoms(use_true_random=False))


def is_valid(symbols: str) -> bool:
    try:
        Reference.parse(symbols)
    except InvalidReference:
        return False
    return True


def symbols_holding(pair: str, position: int) -> str:
    """Symbols of a valid reference with `pair` at `position` and `position + 1`."""
    for filler in ALPHABET:  # at position 0, which steers the check symbol
        payload = filler + "000000"
        payload = (payload[:position] + pair + payload[position + 2 :])[:7]
        symbols = Reference.with_payload(payload).symbols
        if symbols[position : position + 2] == pair:
            return symbols
    raise AssertionError(f"no reference holds {pair} at {position}")


def test_str_is_the_canonical_form() -> None:
    assert str(Reference("7K3FQ2XP")) == KNOWN


def test_generated_references_look_canonical() -> None:
    for _ in range(100):
        assert re.fullmatch(
            r"CM-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", str(Reference.generate())
        )


def test_generation_with_a_seeded_rng_is_reproducible() -> None:
    assert Reference.generate(random.Random(7)) == Reference.generate(random.Random(7))


@given(references)
def test_a_reference_round_trips_through_its_text(reference: Reference) -> None:
    assert Reference.parse(str(reference)) == reference


@pytest.mark.parametrize(
    "typed",
    [
        "CM-7K3F-Q2XP",
        "cm-7k3f-q2xp",
        "cm 7k3f q2xp",
        "CM7K3FQ2XP",
        "7K3F-Q2XP",
        "7k3fq2xp",
        "  CM - 7K3F - Q2XP  ",
        "CM\u20137K3F\u2013Q2XP",
        "CM-7K3F-Q2XP\n",
        "c m 7 k 3 f q 2 x p",
    ],
)
def test_parsing_forgives_case_spaces_dashes_and_a_missing_prefix(typed: str) -> None:
    assert str(Reference.parse(typed)) == KNOWN


def test_parsing_reads_o_as_zero_and_i_or_l_as_one() -> None:
    reference = Reference.with_payload("10A1B0C")
    check = reference.symbols[-1]
    assert Reference.parse(f"CM-lOAi-BoC{check}") == reference
    assert Reference.parse(f"CM-IOAL-BOC{check}") == reference


@pytest.mark.parametrize(
    "typed",
    ["", "CM", "CM-7K3F-Q2X", "CM-7K3F-Q2XPP", "XX-7K3F-Q2XP", "CM-7K3F-Q2XU", "CM-7K3F-Q2X*"],
)
def test_text_that_is_not_a_reference_is_refused(typed: str) -> None:
    with pytest.raises(InvalidReference):
        Reference.parse(typed)


def test_a_wrong_check_symbol_is_refused_with_a_clear_message() -> None:
    with pytest.raises(InvalidReference, match="check symbol"):
        Reference.parse("CM-7K3F-Q2XD")


def test_invalid_reference_is_a_value_error() -> None:
    assert issubclass(InvalidReference, ValueError)


def test_the_constructor_takes_only_canonical_valid_symbols() -> None:
    for symbols in ["7k3fq2xp", "7K3FQ2XD", "7K3FQ2X", "CM7K3FQ2XP"]:
        with pytest.raises(InvalidReference):
            Reference(symbols)


def test_with_payload_adds_the_check_symbol() -> None:
    assert str(Reference.with_payload("7K3FQ2X")) == KNOWN
    with pytest.raises(InvalidReference):
        Reference.with_payload("7K3FQ2")


@settings(max_examples=50)
@given(references)
def test_every_single_symbol_substitution_is_refused(reference: Reference) -> None:
    symbols = reference.symbols
    for position, original in enumerate(symbols):
        for other in ALPHABET.replace(original, ""):
            typo = symbols[:position] + other + symbols[position + 1 :]
            with pytest.raises(InvalidReference):
                Reference.parse(typo)


@settings(max_examples=50)
@given(references)
def test_every_adjacent_transposition_is_refused(reference: Reference) -> None:
    symbols = reference.symbols
    for position in range(len(symbols) - 1):
        first, second = symbols[position], symbols[position + 1]
        if first != second:
            typo = symbols[:position] + second + first + symbols[position + 2 :]
            with pytest.raises(InvalidReference):
                Reference.parse(typo)


@pytest.mark.parametrize("position", range(7))
def test_swapping_any_two_different_adjacent_symbols_is_refused(position: int) -> None:
    for first in ALPHABET:
        for second in ALPHABET.replace(first, ""):
            symbols = symbols_holding(first + second, position)
            swapped = symbols[:position] + second + first + symbols[position + 2 :]
            assert not is_valid(swapped), (symbols, swapped)


def test_ticket_id_is_a_stable_uuid5_of_the_canonical_reference() -> None:
    reference = Reference.parse("cm 7k3f q2xp")
    assert reference.ticket_id == uuid.uuid5(REFERENCE_NAMESPACE, KNOWN)
    assert reference.ticket_id == Reference.parse(KNOWN).ticket_id
    assert reference.ticket_id.version == 5


def test_the_namespace_is_fixed() -> None:
    # Changing it would give every recorded ticket a new id.
    assert REFERENCE_NAMESPACE == uuid.UUID("76574a1f-b3f3-4e69-8664-80e0549de347")
    assert str(Reference.parse(KNOWN).ticket_id) == str(uuid.uuid5(REFERENCE_NAMESPACE, KNOWN))


@given(references, references)
def test_different_references_name_different_tickets(a: Reference, b: Reference) -> None:
    assert (a.ticket_id == b.ticket_id) == (a == b)


@pytest.mark.parametrize(
    "text",
    [
        "Re: my certificate [CM-7K3F-Q2XP]",
        "Following up on cm 7k3f q2xp, still broken",
        "Ref: cm7k3fq2xp",
        "Ref:CM-7K3F-Q2XP.",
        "المرجع CM-7K3F-Q2XP شكرا",
        "first a typo CM-7K3F-Q2XD then the right one CM-7K3F-Q2XP",
        "cm cm-7k3f-q2xp",
    ],
)
def test_find_in_free_text(text: str) -> None:
    assert str(Reference.find_in(text)) == KNOWN


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no reference here",
        "a mistyped one: CM-7K3F-Q2XD",
        "without the prefix: 7K3F-Q2XP",
        "glued to a word: ACM-7K3F-Q2XP",
        "too long: CM-7K3F-Q2XPA",
    ],
)
def test_find_in_ignores_what_is_not_a_valid_quoted_reference(text: str) -> None:
    assert Reference.find_in(text) is None


@given(references, st.text(alphabet=" .,:;()[]\nabcxyz"), st.text(alphabet=" .,:;()[]\nabcxyz"))
def test_find_in_finds_a_generated_reference_anywhere(
    reference: Reference, before: str, after: str
) -> None:
    assert Reference.find_in(f"{before} {reference} {after}") == reference
