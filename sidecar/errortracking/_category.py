"""The category of an error, from keywords in its type and message template.

The first matching row wins. Rows naming *what* failed (a dependency: an AI
provider, payments, e-mail, a database) come before rows naming *how* it
failed (rate limit, timeout, auth, network, validation), so an OpenAI timeout
is ``ai_provider`` and a statement timeout is ``database``; ``internal`` holds
programming errors; anything else is ``other``.

=============  =========================================================================
category       keywords (case-insensitive, whole words; CamelCase types are split first)
=============  =========================================================================
ai_provider    openai, anthropic, claude, gpt, bedrock, vertex ai, gemini, mistral, cohere,
               llm, langchain, ollama, groq, huggingface, model overloaded, context length
payment        payment(s), stripe, paypal, adyen, braintree, card declined,
               insufficient funds, refund, invoice, billing, charge
email          smtp, sendgrid, mailgun, postmark, mailchimp, mandrill, ses, mailer,
               mail server, mail delivery, bounced, send e-mail
database       sql*, database, db, postgres*, psycopg*, asyncpg, mysql, mariadb, sqlite*,
               mongo*, redis, elasticsearch, cassandra, dynamodb, jdbc, hibernate, prisma,
               sequelize, active record, deadlock, integrity, unique violation/constraint,
               foreign key, constraint, duplicate key
rate_limit     rate limit, ratelimit, too many requests, throttl*, quota, resource exhausted
timeout        timeout, time out, timed out, etimedout, deadline exceeded, took too long
auth           unauthorized, unauthenticated, forbidden, access denied, permission denied,
               not authenticated, authentication, authorization, oauth, jwt, csrf,
               invalid/expired token, token expired, invalid credentials, login
network        connection*, connect, network, dns, socket, unreachable, econn*, ehostunreach,
               enotfound, eai again, broken pipe, reset by peer, ssl, tls, certificate,
               handshake, getaddrinfo, name resolution, bad gateway, service unavailable,
               gateway, proxy, remote end closed, http error, aiohttp, httpx, client error
validation     validation, validate*, invalid, malformed, bad request, unprocessable, required,
               missing field/parameter/argument, must be, expected, parse*, decode*, schema,
               json, unmarshal, value error, format
internal       null pointer, nil pointer, none type, attribute error, key error, index error,
               index out of range, out of bounds, type error, reference error, name error,
               zero division, division/divide by zero, assert*, not implemented, runtime error,
               panic, segmentation, stack overflow, recursion, illegal state/argument,
               unsupported operation, class cast, is not a function, is not defined,
               cannot read properties, unbound local, out of memory, memory error, unhandled
other          everything else
=============  =========================================================================
"""

from __future__ import annotations

import re

_TABLE: tuple[tuple[str, str], ...] = (
    (
        "ai_provider",
        r"openai|anthropic|claude|gpt|bedrock|vertex ?ai|gemini|mistral|cohere|llm|langchain|ollama|groq"
        r"|hugging ?face|model (?:is )?overloaded|context length",
    ),
    (
        "payment",
        r"payments?|stripe|paypal|adyen|braintree|card (?:was )?declined|insufficient funds|refund\w*|invoice\w*"
        r"|billing|charge",
    ),
    (
        "email",
        r"smtp\w*|send ?grid|mailgun|postmark|mailchimp|mandrill|ses|mailer|mail server|mail delivery|bounced"
        r"|send(?:ing)? e-?mail",
    ),
    (
        "database",
        r"sql\w*|database|db|postgres\w*|psycopg\w*|asyncpg|mysql|mariadb|sqlite\w*|mongo\w*|redis|elasticsearch"
        r"|cassandra|dynamo ?db|jdbc|hibernate|prisma|sequelize|active ?record|deadlock\w*|integrity"
        r"|unique (?:violation|constraint)|foreign key|constraint|duplicate key",
    ),
    ("rate_limit", r"rate ?limit\w*|too many requests|throttl\w*|quota|resource exhausted"),
    ("timeout", r"time ?outs?|timed out|etimedout|deadline exceeded|took too long"),
    (
        "auth",
        r"unauthori[sz]ed|unauthenticated|forbidden|access denied|permission denied|not authenticated"
        r"|authentication|authori[sz]ation|o ?auth\w*|jwt|csrf|(?:invalid|expired) token|token (?:has )?expired"
        r"|invalid credentials|login",
    ),
    (
        "network",
        r"connection\w*|connect|network|dns|socket|unreachable|econn\w+|ehostunreach|enotfound|eai again"
        r"|broken pipe|reset by peer|ssl|tls|certificate|handshake|getaddrinfo|name resolution|bad gateway"
        r"|service unavailable|gateway|proxy|remote end closed|http error|aiohttp|httpx|client error",
    ),
    (
        "validation",
        r"validation|validat\w*|invalid|malformed|bad request|unprocessable|required"
        r"|missing (?:field|parameter|argument)|must be|expected|pars\w*|decod\w*|schema|json|unmarshal"
        r"|value error|format",
    ),
    (
        "internal",
        r"null ?pointer|nil pointer|none ?type|attribute error|key error|index error|index out of range"
        r"|out of bounds|type error|reference error|name error|zero division|divi(?:sion|de) by zero|assert\w*"
        r"|not implemented|runtime error|panic|segmentation|stack overflow|recursion|illegal (?:state|argument)"
        r"|unsupported operation|class cast|is not a function|is not defined|cannot read propert\w*"
        r"|unbound local|out of memory|memory error|unhandled",
    ),
)
_PATTERNS = tuple((name, re.compile(rf"\b(?:{keywords})\b")) for name, keywords in _TABLE)
CATEGORIES: tuple[str, ...] = (*(name for name, _ in _TABLE), "other")

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def category_of(error_type: str, message: str) -> str:
    """The category (one of :data:`CATEGORIES`) of an error of ``error_type`` with ``message``."""
    haystack = f"{_CAMEL.sub(' ', error_type)} {message}".replace("_", " ").lower()
    for name, pattern in _PATTERNS:
        if pattern.search(haystack):
            return name
    return "other"
