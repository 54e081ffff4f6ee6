"""Regular-expression sources for the built-in detectors.

Every pattern describes a detection *starting at a token boundary*: the
scanner only tries them right after a delimiter character (or at the start of
the string), which is what keeps one pass over a log line cheap. Patterns
start with a literal or a character class where possible, so ``re`` rejects
them on the first character without entering them.

The patterns are ours and reviewed for linear-time behaviour: every
repetition is bounded, possessive or unambiguous, so the stdlib ``re``
engine (faster here than RE2's Python wrapper) cannot backtrack
catastrophically. Checks a regex cannot express (checksums, length tables,
trimming) live in the resolvers.
"""

from __future__ import annotations

# A detection may start only after one of these characters: ASCII punctuation
# and whitespace except "_", ".", "-", "+" and "@" (so nothing is found inside
# a version's tail, an order number or a hex id), plus common Unicode
# punctuation and spaces. Listed as ranges because a Unicode category test
# per character makes the scan several times slower.
DELIMITER = "[\x00-\x2a,/:-?\\[-^`{-\x7f\xa0-\xbf\u2000-\u206f\u3000-\u303f\uff00-\uff0f\uff1a-\uff20]"

# Every digit-led detection starts with seven characters of digits and
# separators ("1.2.3.4", "415-555-2671", "4111 1111 ..."); ISO dates are not
# one. Tested once before the digit-led patterns, this turns away "200",
# "1532ms", hex ids and timestamps in one step.
NUMERIC_GUARD = r"(?=\d[\d .()\-]{6})(?!\d{4}-\d\d-\d\d)"

URL_CREDENTIALS = (
    r"[A-Za-z][A-Za-z0-9+.\-]{1,15}+://"
    r"(?P<uc_cred>[^\s/?#@:\"'<>]{1,256}:[^\s/?#@\"'<>]{0,256})@"
)

# The delimiter before the name must be "?", "&" or ";": a query string, not prose.
URL_SECRET_PARAM = (
    r"(?<=[?&;])(?i:token|access_token|refresh_token|id_token|password|passwd|pwd"  # noqa: S105 (names)
    r"|secret|client_secret|api_key|api-key|apikey|key|signature|sig"
    r"|x-amz-signature|x-goog-signature|auth|code|session|sessionid)"
    r"=(?P<up_value>[^&#;\s\"'<>]{1,4096})"
)

BEARER = (
    r"[Bb](?:earer|EARER|asic|ASIC)[ \t]+"
    r"(?P<bt_token>[A-Za-z0-9\-._~+/]{8,4096}+=*)(?![\w\-.~+/=])"
)

JWT = (
    r"eyJ[A-Za-z0-9_\-]{2,8192}\.[A-Za-z0-9_\-]{2,8192}\.[A-Za-z0-9_\-]{0,8192}"
    r"(?![A-Za-z0-9_\-])"
)

# (first characters, pattern) per known API-key shape.
_END_OF_KEY = r"(?![A-Za-z0-9_\-])"
SECRETS = (
    ("rs", r"[sr]k_(?:live|test)_[0-9A-Za-z]{10,256}" + _END_OF_KEY),  # Stripe
    ("w", r"whsec_[0-9A-Za-z+/=]{16,256}" + _END_OF_KEY),  # Stripe webhook secret
    ("s", r"sk-[A-Za-z0-9_\-]{20,512}" + _END_OF_KEY),  # OpenAI sk-, sk-proj-; Anthropic sk-ant-
    ("A", r"A(?:KIA|SIA)[A-Z0-9]{16}" + _END_OF_KEY),  # AWS access key id
    ("A", r"AIza[0-9A-Za-z_\-]{35}" + _END_OF_KEY),  # Google API key
    ("g", r"gh[pousr]_[A-Za-z0-9]{30,255}" + _END_OF_KEY),  # GitHub tokens
    ("g", r"github_pat_[A-Za-z0-9_]{22,255}" + _END_OF_KEY),
    ("x", r"xox[abpors]-[A-Za-z0-9\-]{10,255}" + _END_OF_KEY),  # Slack
    ("s", r"sct_[A-Za-z0-9_\-]{43}" + _END_OF_KEY),  # the sidecar's own API tokens
)

EMAIL = (
    r"[\w.%+'\-]{1,64}+@"
    r"(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.){1,8}[^\W\d_]{2,24}(?![\w\-])"
)

# Country code, check digits, then the BBAN in groups of four (spaces optional).
IBAN = r"[A-Z][A-Z]\d\d(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?![A-Za-z0-9])"

# 4-4-4-(1..4)[-(1..3)] with one consistent separator (or none), or Amex/Diners 4-6-(4|5).
CARD = (
    r"\d\d{3}(?:"
    r"(?P<cd_sep>[ \-]?)\d{4}(?P=cd_sep)\d{4}(?P=cd_sep)\d{1,4}(?:(?P=cd_sep)\d{1,3})?"
    r"|(?P<cd_sep2>[ \-]?)\d{6}(?P=cd_sep2)\d{4,5}"
    r")(?![\w]|[.,]\d)"
)

# Area 000, 666 and 900-999, group 00 and serial 0000 are never issued.
SSN = r"[0-8]\d\d(?<!000)(?<!666)-(?!00)\d\d-(?!0000)\d{4}(?![\w\-]|\.\d)"

# Shape only; the resolver checks each octet (0-255, no leading zero).
IPV4 = r"\d\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w\-]|\.\d)"

# Shape only; the resolver wants "::" or eight groups and asks ipaddress. The
# hex run is possessive, so a flood of colons costs one pass, not a backtrack
# per character; an embedded IPv4 tail's first octet belongs to the run.
IPV6 = r"[0-9A-Fa-f:]{2,39}+(?:(?:\.\d{1,3}){3})?(?:%[0-9A-Za-z]{1,16})?(?![\w:]|\.\d)"

# International: +CC then groups; "(0)" trunk marks and an extension allowed.
PHONE_INTL = (
    r"\+(?=[1-9][\d .()\-]{6})\d{1,15}"
    r"(?:[ .\-]?\(\d{1,4}\)[ .\-]?\d{1,12}|[ .\-]\d{1,12}){0,6}"
    r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?(?![\w])"
)

_EXTENSION = r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?"
_END_OF_NUMBER = r"(?![\w]|[.\-]\d)"

# North American: (415) 555-2671, 415-555-2671, 415.555.2671, 415 555 2671,
# bare 4155552671 (the resolver wants area and exchange codes from 2-9), and
# the same after a "1-" or "001-" trunk prefix.
PHONE_NANP_PAREN = r"\(\d{3}\)[ .\-]?\d{3}[.\- ]\d{4}" + _EXTENSION + _END_OF_NUMBER
PHONE_NANP = r"\d\d{2}(?:(?P<ph_sep>[.\- ])\d{3}(?P=ph_sep)\d{4}|\d{7})" + _EXTENSION + _END_OF_NUMBER
PHONE_NANP_TRUNK = r"(?:1|001)[ .\-]\d{3}(?P<ph_sep2>[.\- ])\d{3}(?P=ph_sep2)\d{4}" + _EXTENSION + _END_OF_NUMBER

# National with a trunk 0 (or the 00 international prefix): 020 7946 0958,
# (0161) 4960066, 06 12 34 56 78, 0232781286. Digit counts are checked later.
_NATIONAL_GROUPS = r"(?:[ .\-]\d{2,10}){0,5}" + _END_OF_NUMBER
PHONE_NATIONAL_PAREN = r"\(0\d{1,5}\)[ \-]?\d{2,10}" + _NATIONAL_GROUPS
PHONE_NATIONAL = r"0\d{1,14}" + _NATIONAL_GROUPS
