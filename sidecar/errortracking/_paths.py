"""Normalising the file and module names of stack frames, and telling application code from the rest.

A fingerprint must not change when the same code runs from another directory
(a release folder, a container path, a developer's checkout), so paths lose
their machine-specific prefix: third-party and standard-library paths keep
what follows ``site-packages/``, ``node_modules/``, ``lib/python3.x/``...;
application paths keep their last three components.
"""

from __future__ import annotations

import re

_APP_COMPONENTS = 3

# Where a third-party or standard-library path starts; everything before it is the machine's.
_VENDOR_MARKERS = ("site-packages/", "dist-packages/", "node_modules/", "/gems/", "/pkg/mod/", "/vendor/")
_STDLIB_ROOT = re.compile(r"^.*/lib/(?:python\d+(?:\.\d+)?|ruby/\d+(?:\.\d+)*)/")
_SCHEME = re.compile(r"^(?:file|webpack|webpack-internal|https?)://[^/]*", re.IGNORECASE)
_DRIVE = re.compile(r"^[A-Za-z]:(?=/)")
# A package directory's version (activerecord-7.1.2, pq@v1.10.9) changes on every upgrade.
_DIR_VERSION = re.compile(r"[-@]v?\d+(?:\.\w+)+$")
# A bundler's content hash in a file name (main.3f2a1b9c.js) changes on every build.
_FILE_HASH = re.compile(r"[.-][0-9a-f]{8,}(?=\.\w+$)")

# Substrings of a path that mark it as not application code.
_NOT_APP_PATHS = (
    "site-packages/",
    "dist-packages/",
    "node_modules/",
    "<frozen ",
    "/usr/lib/",
    "/lib/python",
    "/lib/ruby/",
    "/gems/",
    "/pkg/mod/",
    "/vendor/",
    "<internal:",
)
_NOT_APP_PREFIXES = ("node:", "internal/")

# JVM packages that are never application code: the platform, languages and the common frameworks.
_JVM_LIBRARY_PACKAGES = (
    "java.",
    "javax.",
    "jakarta.",
    "sun.",
    "com.sun.",
    "jdk.",
    "kotlin.",
    "kotlinx.",
    "scala.",
    "groovy.",
    "org.springframework.",
    "org.apache.",
    "org.hibernate.",
    "org.eclipse.jetty.",
    "io.netty.",
    "io.grpc.",
    "com.fasterxml.",
    "reactor.",
    "okhttp3.",
)


def normalise_path(path: str) -> str:
    """``path`` without its machine-specific prefix, versions or build hashes, ``/``-separated."""
    path = _DRIVE.sub("", _SCHEME.sub("", path.strip().replace("\\", "/")))
    for marker in _VENDOR_MARKERS:
        if marker in path:
            return _clean(path.rsplit(marker, 1)[1].split("/"))
    stdlib = _STDLIB_ROOT.sub("", path)
    if stdlib != path:
        return _clean(stdlib.split("/"))
    return _clean(path.split("/")[-_APP_COMPONENTS:])


def _clean(parts: list[str]) -> str:
    parts = [part for part in parts if part and part != "."]
    if not parts:
        return ""
    directories = [_DIR_VERSION.sub("", part) for part in parts[:-1]]
    return "/".join([*directories, _FILE_HASH.sub("", parts[-1])])


def path_in_app(path: str) -> bool:
    """Whether a frame in ``path`` is application code (not a library, runtime or standard library)."""
    path = path.replace("\\", "/")
    if path.startswith(_NOT_APP_PREFIXES):
        return False
    return not any(marker in path for marker in _NOT_APP_PATHS)


def jvm_class_in_app(class_name: str) -> bool:
    """Whether a JVM class is application code."""
    return not class_name.startswith(_JVM_LIBRARY_PACKAGES)


def go_in_app(package: str, path: str) -> bool:
    """Whether a Go frame is application code.

    The standard library is recognised by its files living under
    ``GOROOT/src/<package>/`` with a package path whose first element has no dot;
    dependencies by the module cache or a vendor directory.
    """
    path = path.replace("\\", "/")
    if "/pkg/mod/" in path or "/vendor/" in path:
        return False
    first = package.split("/", 1)[0]
    return "." in first or package == "main" or f"/src/{package}/" not in path
