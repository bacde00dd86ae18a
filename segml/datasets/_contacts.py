"""Fake contact details for the synthetic store: names, emails, phones and postal codes.

Every address is on a domain reserved for examples (RFC 2606: ``example.com``, ``example.org``,
``example.net``; and the ``.invalid`` top-level domain), so no message can reach anyone. Phone
numbers come only from ranges reserved for fiction: UK mobiles ``07700 900000``-``07700 900999``
(Ofcom's drama numbers) and North American ``555-0100``-``555-0199``; customers in the other
countries have no phone number. The details carry the dirt real CRM exports carry (capitals,
stray spaces, plus-addressing, missing values, a few malformed addresses), so the audience
destinations' normalisation and their "no usable identifier" counts have something to do.

They are drawn from a random stream of their own (``make_shop`` spawns it after every other
stream), so every other column of the store is the same with or without them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["contact_columns"]

_FIRST = (
    "Oliver", "Amelia", "George", "Isla", "Noah", "Ava", "Arthur", "Mia", "Leo", "Ivy",
    "Lukas", "Emma", "Hugo", "Louise", "Mateo", "Lucia", "Daan", "Julia", "James", "Olivia",
    "Zoë", "Émile", "Anne-Marie", "Seán", "Chloé", "Jürgen", "Mary Ann", "O'Neil",
)  # fmt: skip
_LAST = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Müller", "Schmidt", "Martin", "Bernard",
    "Garcia", "Lopez", "de Vries", "Jansen", "Johnson", "Miller", "O'Brien", "Pérez",
    "Fernández", "Dubois", "Wilson", "Evans", "Thomas", "van Dijk", "Fischer",
)  # fmt: skip
_DOMAINS = ("example.com", "example.org", "example.net", "shop.invalid")


def contact_columns(rng: np.random.Generator, country: np.ndarray) -> dict[str, np.ndarray]:
    """``email``, ``phone``, ``first_name``, ``last_name``, ``postal_code`` for customers in
    ``country`` (ISO codes), as object arrays with None for missing values."""
    n = country.size
    first = np.array(_FIRST, dtype=object)[rng.integers(0, len(_FIRST), n)]
    last = np.array(_LAST, dtype=object)[rng.integers(0, len(_LAST), n)]
    u = rng.random((n, 8))
    email = _emails(first, last, rng.integers(0, len(_DOMAINS), n), u)
    phone = _phones(country, rng.integers(0, 100, n), rng.integers(0, 1000, n), u[:, 5])
    postal = _postal_codes(country, rng.integers(0, 10, (n, 6)))
    return {
        "email": email,
        "phone": phone,
        "first_name": _blank(first, u[:, 6] >= 0.92),
        "last_name": _blank(last, u[:, 6] >= 0.90),
        "postal_code": _blank(postal, u[:, 7] >= 0.85),
    }


def _blank(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    out = values.astype(object)
    out[missing] = None
    return out


def _emails(first: np.ndarray, last: np.ndarray, domain: np.ndarray, u: np.ndarray) -> np.ndarray:
    """firstname.lastname.<n>@domain, with capitals (15%), stray spaces (3%), a plus tag (5%),
    a missing address (8%) and a malformed one (1%, no @)."""
    out = np.empty(first.size, dtype=object)
    for i in range(first.size):
        local = f"{_ascii(first[i])}.{_ascii(last[i])}.{i}"
        if u[i, 2] < 0.05:
            local += "+shop"
        address = f"{local}@{_DOMAINS[domain[i]]}"
        if u[i, 0] < 0.05:
            address = address.upper()
        elif u[i, 0] < 0.15:
            address = address.title()  # Oliver.Smith.12@Example.Com
        if u[i, 1] < 0.03:
            address = f"  {address} "
        if u[i, 3] < 0.01:
            address = address.replace("@", " at ")
        out[i] = None if u[i, 4] < 0.08 else address
    return out


def _ascii(name: str) -> str:
    folded = name.lower().translate(str.maketrans("äëéèöüóáíñ", "aeeeouoain"))
    return "".join(ch for ch in folded if ch.isalnum())


def _phones(country: np.ndarray, area: np.ndarray, line: np.ndarray, u: np.ndarray) -> np.ndarray:
    """GB and US customers (70% of them) get a fictional number, written as people write it."""
    out = np.full(country.size, None, dtype=object)
    for i, c in enumerate(country):
        if u[i] >= 0.7:
            continue
        style = int(u[i] * 10) % 4
        if c == "GB":
            digits = f"{line[i]:03d}"
            out[i] = (
                f"07700 900{digits}",
                f"+44 7700 900{digits}",
                f"07700-900-{digits}",
                f"0044 (0)7700 900{digits}",
            )[style]
        elif c == "US":
            area_code = 201 + area[i] * 3 % 700
            digits = f"01{area[i]:02d}"
            out[i] = (
                f"({area_code}) 555-{digits}",
                f"+1 {area_code}-555-{digits}",
                f"{area_code}.555.{digits}",
                f"1{area_code}555{digits}",
            )[style]
    return out


def _postal_codes(country: np.ndarray, d: np.ndarray) -> np.ndarray:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    out = np.empty(country.size, dtype=object)
    for i, c in enumerate(country):
        x = d[i]
        if c == "GB":
            area = f"{letters[x[0]]}{letters[x[1] + 10]}{x[2] + 1}"
            out[i] = f"{area} {x[3]}{letters[x[4]]}{letters[x[5]]}"
        elif c == "NL":
            out[i] = f"{x[0] + 1}{x[1]}{x[2]}{x[3]} {letters[x[4]]}{letters[x[5]]}"
        elif c == "US":
            out[i] = f"{x[0]}{x[1]}{x[2]}{x[3]}{x[4]}" + ("-" + f"{x[5]}" * 4 if x[5] < 3 else "")
        else:  # DE, FR, ES: five digits
            out[i] = f"{x[0] + 1}{x[1]}{x[2]}{x[3]}{x[4]}"
    return out
