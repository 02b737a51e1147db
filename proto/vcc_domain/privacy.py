"""Masking of customer data before it reaches a log line or a screen it should not."""

from __future__ import annotations

import re

# Seven or more digits in a row (optionally with a leading +): a phone or account number.
_NUMBER_RUN = re.compile(r"\+?\d{7,}")


def mask_phone(number: str) -> str:
    """Keep the first 3 and last 4 digits of a phone number: ``138****5678``.

    Short numbers (service codes such as ``114`` or ``95598``) are not personal and are
    returned unchanged.
    """
    digits = number.strip()
    if len(digits) < 7:
        return digits
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_numbers_in(text: str) -> str:
    """Mask every run of 7+ digits in free text (log messages, notes)."""
    return _NUMBER_RUN.sub(lambda m: mask_phone(m.group(0)), text)
