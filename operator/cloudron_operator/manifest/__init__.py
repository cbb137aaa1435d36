"""CloudronManifest.json: the typed model (`model`), the validator that applies Cloudron's rules and
our policy (`validation`), the field formats (`formats`, `cron`), the store metadata (`metadata`),
the lenient JSON reader packagers' files need (`lenient_json`) and `manifest check` (`cli`).
"""

from cloudron_operator.manifest.model import (
    DEFAULT_MEMORY_LIMIT,
    RUNTIME_DIR_ROOTS,
    DeclaredPort,
    Manifest,
    SocketPort,
)

__all__ = ["DEFAULT_MEMORY_LIMIT", "RUNTIME_DIR_ROOTS", "DeclaredPort", "Manifest", "SocketPort"]
