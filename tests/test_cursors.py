"""portal.cursors: one signed, compact, URL-safe page cursor for every keyset-paged list."""

import re

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from portal.cursors import MAX_TOKEN_LENGTH, InvalidCursor, decode_cursor, encode_cursor
from portal.errors import DomainError

SALT = "tests.list"
URL_SAFE = re.compile(r"^[A-Za-z0-9_\-.]+$")

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=80))


@given(st.lists(st.one_of(json_scalars, st.lists(json_scalars, max_size=3)), max_size=4))
def test_it_round_trips(values):
    token = encode_cursor(values, salt=SALT)
    assert URL_SAFE.match(token)
    assert decode_cursor(token, salt=SALT) == values


def test_it_is_compact():
    token = encode_cursor(["2026-01-31T23:59:59.999999+00:00", 12_345_678], salt=SALT)
    assert len(token) < 110
    names = encode_cursor(["Ωmega" * 16, "Zoë" * 26, 12_345_678], salt=SALT)  # two 80-character names
    assert len(names) < MAX_TOKEN_LENGTH // 2


@pytest.mark.parametrize("edit", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature
    lambda t: ("A" if t[0] != "A" else "B") + t[1:],  # payload
    lambda t: t[:-3],  # cut short
    lambda t: t.replace(".", ""),  # no separator
    lambda t: t + "A",
])
def test_an_edited_cursor_is_refused(edit):
    token = encode_cursor([1700000000000000, 42], salt=SALT)
    with pytest.raises(InvalidCursor):
        decode_cursor(edit(token), salt=SALT)


def test_a_forged_payload_is_refused():
    token = encode_cursor([42], salt=SALT)
    forged = encode_cursor([1], salt=SALT).split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(InvalidCursor):
        decode_cursor(forged, salt=SALT)


def test_a_cursor_of_another_list_is_refused():
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor([42], salt="customers.profile"), salt="portal.audit")


def test_a_cursor_signed_with_another_key_is_refused_and_old_keys_still_work():
    with override_settings(SECRET_KEY="another-secret-key-" * 3):
        token = encode_cursor([42], salt=SALT)
    with pytest.raises(InvalidCursor):
        decode_cursor(token, salt=SALT)
    with override_settings(SECRET_KEY_FALLBACKS=["another-secret-key-" * 3]):
        assert decode_cursor(token, salt=SALT) == [42]


@pytest.mark.parametrize("garbage", ["", "garbage", ".", "..", "abc.def", "W10", "W10:1abc:xyz", "%00", "\x00.\x00",
                                     "é.é", None, 42, ["W10"]])
def test_garbage_is_refused(garbage):
    with pytest.raises(InvalidCursor):
        decode_cursor(garbage, salt=SALT)


def test_a_signed_value_that_is_not_a_list_is_refused():
    from django.core import signing

    from portal import cursors

    token = signing.Signer(salt="portal.cursors:" + SALT, sep=".", algorithm="sha256").sign_object(
        {"id": 1}, serializer=cursors._CompactJSON)
    with pytest.raises(InvalidCursor):
        decode_cursor(token, salt=SALT)


def test_huge_input_is_refused_without_reading_it():
    token = encode_cursor(["x" * 3000], salt=SALT)
    assert len(token) > MAX_TOKEN_LENGTH
    with pytest.raises(InvalidCursor):
        decode_cursor(token, salt=SALT)
    with pytest.raises(InvalidCursor):
        decode_cursor("A" * 10_000_000 + ".sig", salt=SALT)


def test_it_is_a_400_domain_error_for_the_api():
    error = InvalidCursor()
    assert isinstance(error, DomainError)
    assert (error.status, error.code) == (400, "invalid_cursor")
    assert error.message
