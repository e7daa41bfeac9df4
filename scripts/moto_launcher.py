"""Start moto's server with two S3 response fixes that aws-sdk-rust needs, and TLS
handshakes done per connection.

moto 5.2.5 serializes a few S3 responses under the root element
`<Operation>Response` when its service model has no result wrapper for them.
botocore ignores the root element's name; aws-sdk-rust checks it and fails to
parse. This launcher renames the root element for the operations s3seal uses,
then runs `moto.server.main()` with the command-line arguments it was given
(for example `-H 127.0.0.1 -p PORT -c server.pem -k server.key`).

werkzeug's development server, which moto runs, wraps its listening socket in TLS, so every
accepted connection finishes its TLS handshake inside accept(), in the one thread that
accepts; and it closes every connection after one response. Every request (every KMS call)
therefore paid a handshake, one at a time: with 20 ms of round trip that serialised
GenerateDataKey calls at about one round trip each (docs/PERFORMANCE.md). The launcher makes
the handshake happen in the connection's own thread, on its first read, as a real endpoint
does them concurrently.

Used by scripts/local-aws.sh and scripts/bench.sh; see docs/LOCAL-AWS.md.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

# Operation name -> root element name that the S3 API (and aws-sdk-rust) uses.
S3_ROOT_ELEMENTS = {
    "GetBucketVersioning": "VersioningConfiguration",
    "ListParts": "ListPartsResult",
}


def patch_s3_serializer() -> None:
    from moto.core import serialize

    serializer = getattr(serialize, "S3Serializer", None)
    original = getattr(serializer, "_serialize_body", None)
    if serializer is None or original is None:
        # A moto that no longer has these names needs this launcher revisited.
        sys.exit("moto_launcher: moto.core.serialize.S3Serializer._serialize_body not found")

    def _serialize_body(self: Any, body: Any) -> str:
        operation = getattr(getattr(self, "operation_model", None), "name", None)
        root = S3_ROOT_ELEMENTS.get(operation or "")
        wrong = f"{operation}Response"
        if root is not None and isinstance(body, Mapping) and list(body) == [wrong]:
            body = {root: body[wrong]}
        return original(self, body)

    serializer._serialize_body = _serialize_body


def patch_tls_handshake() -> None:
    import werkzeug.serving as serving

    original = getattr(serving, "load_ssl_context", None)
    if original is None:
        sys.exit("moto_launcher: werkzeug.serving.load_ssl_context not found")

    class PerConnectionHandshake:
        """An SSLContext whose sockets handshake on first use, not in accept()."""

        def __init__(self, context: Any) -> None:
            self._context = context

        def wrap_socket(self, sock: Any, server_side: bool = False, **kwargs: Any) -> Any:
            kwargs["do_handshake_on_connect"] = False
            return self._context.wrap_socket(sock, server_side=server_side, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._context, name)

    def load_ssl_context(*args: Any, **kwargs: Any) -> Any:
        return PerConnectionHandshake(original(*args, **kwargs))

    serving.load_ssl_context = load_ssl_context


def main() -> None:
    patch_s3_serializer()
    patch_tls_handshake()
    import moto.server

    print(f"moto_launcher: patched S3 root elements {S3_ROOT_ELEMENTS}", flush=True)
    moto.server.main(sys.argv[1:])


if __name__ == "__main__":
    main()
