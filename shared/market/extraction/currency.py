"""Currencies as pages write them ("EUR", "€", "zł", "$"), turned into ISO 4217 codes."""

from __future__ import annotations

import re


# Currencies whose minor unit has three digits: "12.500" there is twelve and a half.
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})

ISO_CODES = frozenset(
    "AED ARS AUD BAM BGN BHD BRL BYN CAD CHF CLP CNY COP CZK DKK EGP EUR GBP HKD HRK HUF IDR ILS INR "
    "IQD ISK JOD JPY KES KRW KWD KZT LKR LYD MAD MXN MYR NGN NOK NPR NZD OMR PEN PHP PKR PLN QAR RON "
    "RSD RUB SAR SEK SGD THB TND TRY TWD UAH USD UYU VND ZAR".split()
)

# Symbols that name one currency wherever they appear.
_SYMBOLS = {
    "£": "GBP", "€": "EUR", "EURO": "EUR", "US$": "USD", "R$": "BRL", "C$": "CAD", "CA$": "CAD",
    "A$": "AUD", "AU$": "AUD", "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "NT$": "TWD", "MX$": "MXN",
    "ZŁ": "PLN", "KČ": "CZK", "FT": "HUF", "LEI": "RON", "KN": "HRK", "₽": "RUB", "РУБ": "RUB",
    "Р.": "RUB", "РУБ.": "RUB", "₴": "UAH", "ГРН": "UAH", "₹": "INR", "₩": "KRW", "원": "KRW", "₪": "ILS",
    "₺": "TRY", "TL": "TRY", "฿": "THB", "₫": "VND", "₱": "PHP", "ر.س": "SAR", "د.إ": "AED",
    "KD": "KWD", "RM": "MYR", "BR": "BYN", "Б.Р.": "BYN", "ЛВ": "BGN", "ДИН": "RSD", "元": "CNY",
}
# Symbols shared by several currencies: the competitor's currency or the site's country decides.
_SHARED_SYMBOLS = {
    "$": ("USD", "CAD", "AUD", "NZD", "SGD", "HKD", "TWD", "MXN", "CLP", "COP", "ARS", "UYU"),
    "KR": ("SEK", "NOK", "DKK", "ISK"),
    "KR.": ("SEK", "NOK", "DKK", "ISK"),
    "¥": ("JPY", "CNY"),
    "RS": ("PKR", "INR", "LKR", "NPR"),
    "RS.": ("PKR", "INR", "LKR", "NPR"),
    "R": ("ZAR",),
}
_COUNTRY_CURRENCY = {
    "us": "USD", "ca": "CAD", "au": "AUD", "nz": "NZD", "sg": "SGD", "hk": "HKD", "tw": "TWD",
    "mx": "MXN", "cl": "CLP", "co": "COP", "ar": "ARS", "uy": "UYU", "se": "SEK", "no": "NOK",
    "dk": "DKK", "is": "ISK", "jp": "JPY", "cn": "CNY", "pk": "PKR", "in": "INR", "lk": "LKR",
    "np": "NPR", "za": "ZAR", "uk": "GBP", "gb": "GBP",
}


def currency_code(text: str | None, *, expected: str | None = None, country: str | None = None) -> str | None:
    """An ISO 4217 code for a currency as pages write it ("EUR", "€", "zł", "$", "US $")."""
    if not text:
        return None
    token = text.strip().upper()
    for candidate in (token, token.rstrip("."), token.replace(" ", "")):
        if candidate in ISO_CODES:
            return candidate
        if candidate in _SYMBOLS:
            return _SYMBOLS[candidate]
        shared = _SHARED_SYMBOLS.get(candidate)
        if shared:
            if expected in shared:
                return expected
            by_country = _COUNTRY_CURRENCY.get(country or "")
            return by_country if by_country in shared else shared[0]
    code = re.search(r"\b[A-Z]{3}\b", token)
    if code and code.group(0) in ISO_CODES:
        return code.group(0)
    return None
