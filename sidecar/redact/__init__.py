"""PII and secret redaction for log records: pure functions of a policy, no I/O.

    redactor = Redactor(RedactionPolicy(pseudonym_key=key))
    counts: dict[str, int] = {}
    clean = redactor.redact_value(record, counts)   # counts == {"email": 1, ...}

Detections are replaced by ``[REDACTED:<kind>]``. Kinds: ``email``, ``phone``,
``card`` (Luhn), ``iban`` (mod 97), ``ssn``, ``ip`` (v4 and v6), ``jwt``,
``secret`` (API keys of known shape), ``bearer`` (Bearer/Basic credentials),
``url_credentials``, ``url_secret_param``, ``key`` (value under a secret-looking
dict key), ``user`` (pseudonymised field) and custom rule names;
``Redactor.kinds`` lists them for a given policy. Detections start at token
boundaries only, so ids, versions and order numbers survive.
"""

from ._errors import RedactionFailed
from ._policy import DEFAULT_SECRET_KEYS, CustomRule, RedactionPolicy
from ._redactor import Redactor

__all__ = ["DEFAULT_SECRET_KEYS", "CustomRule", "RedactionFailed", "RedactionPolicy", "Redactor"]
