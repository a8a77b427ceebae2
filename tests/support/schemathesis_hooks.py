"""Schemathesis hooks for tests/cli/openapi.rs (loaded through SCHEMATHESIS_HOOKS).

A URL too long for the HTTP parser never reaches maia: the `http` crate refuses a request
target over 65534 bytes and actix answers with an empty 400 (an empty 431 past 128 KiB of
head) before any of maia's code runs, so no document can describe that answer. Such
requests are not generated; every other one is, including query strings past what a
parameter's schema allows (maia's JSON 422 and 431 answer those).
"""

from urllib.parse import urlencode

import schemathesis

# Well below the parser's limit, with room for the path.
MAX_QUERY_BYTES = 32 * 1024


@schemathesis.hook
def filter_query(ctx, query):
    if not query:
        return True
    try:
        encoded = urlencode(query, doseq=True)
    except (TypeError, ValueError):
        return True
    return len(encoded) <= MAX_QUERY_BYTES
