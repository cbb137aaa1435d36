"""What kopf keeps on an app: which spec it handled, and the progress of a handler being retried.

Which spec was handled: the generation the app's status says was reconciled.

kopf tells a new or changed spec from any other write by comparing an "essence" it stored when its
handlers last finished with the essence of each new version. Its annotation storage keeps a copy of
the whole spec in an annotation, patched after every handled create or change: one more write per
app, and the spec twice in every later write and watch event of the app. A pass that ends well
writes the app's status anyway, and says there which generation it reconciled
(`status.reconciledGeneration`), so that is the essence kopf is given: it then has nothing to write.

Generations only grow, so a version of the app older than one this process knows is handled too:
a late watch event is never taken for a change (kopf's own guard against that, waiting for its
patch to come back from the watch, needs a patch). Apps from before this storage have the
annotation only: their spec counts as handled if it is the one the annotation holds.
Other kinds (Addons) keep kopf's annotation, with a digest of each part of the essence (spec,
metadata) rather than a copy: a copy made the annotations of an Addon with large options pass the
API server's 256 KiB limit, and every patch of it was refused, retried without end (found by the
fuzzing, #25). Apps keep kopf's own annotation storage while the installed CRD is older than the
operator (`status_keeps_reconciled_generation`): its schema would prune the field, and kopf, never
finding it, would take every event of an app for its creation.

The progress of a handler stays in annotations, as kopf keeps it, without the one write per new app
that kopf's marking of them costs when nothing is left to mark (`ProgressAnnotationsStorage`).

"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

import kopf

from cloudron_operator.models import API_VERSION, VERSION
from cloudron_operator.reconcile.status import RECONCILED_GENERATION, reconciled_generation
from cloudron_operator.store import Store

FieldSpec = str | list[str] | tuple[str, ...] | None  # a field as kopf names one


class AppStatusDiffBaseStorage(kopf.DiffBaseStorage):
    """For CloudronApps: the essence is `{"spec": {"generation": N}}`, N the handled generation."""

    def __init__(self, store: Store, others: kopf.DiffBaseStorage) -> None:
        super().__init__()
        self.apps, self.others = store, others

    def build(self, *, body: kopf.Body, extra_fields: Iterable[FieldSpec] | None = None) -> kopf.BodyEssence:
        if not _is_app(body):
            return digested(self.others.build(body=body, extra_fields=extra_fields))
        return _essence(body.meta.get("generation"))

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        if not _is_app(body):
            stored = self.others.fetch(body=body)  # a digest, or a copy an older operator wrote
            return None if stored is None else digested(stored)
        generation = body.meta.get("generation")
        handled = self._handled(body)
        if handled is None:
            handled = self._handled_by_annotation(body)
        if handled is None:
            return None  # never handled: a create
        # Any generation up to the one handled is not a change to act on.
        return _essence(generation if isinstance(generation, int) and handled >= generation else handled)

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        if not _is_app(body):
            self.others.store(body=body, patch=patch, essence=essence)
            return
        generation = essence.get("spec", {}).get("generation")
        handled = self._handled(body)
        if handled is not None and isinstance(generation, int) and handled >= generation:
            return  # the pass's status write said so already
        # kopf writes it itself: a handler finished without its pass writing the status.
        patch.status[RECONCILED_GENERATION] = generation

    def _handled(self, body: kopf.Body) -> int | None:
        """The highest generation handled, in this version's status or a newer one known."""
        candidates = [reconciled_generation(body.get("status", {}))]
        known = self.apps.app((str(body.meta.get("namespace")), body.meta["name"]))
        if known is not None and known.uid == body.meta.get("uid"):
            candidates.append(reconciled_generation(known.app.get("status", {})))
        found = [generation for generation in candidates if generation is not None]
        return max(found) if found else None

    def _handled_by_annotation(self, body: kopf.Body) -> int | None:
        """The app's generation if kopf's annotation (an older operator's) holds its spec as it is now."""
        stored = self.others.fetch(body=body)
        if stored is None:
            return None
        generation = body.meta.get("generation")
        unchanged = stored.get("spec") == body.get("spec")
        return generation if unchanged and isinstance(generation, int) else 0


def status_keeps_reconciled_generation(crd: Mapping[str, Any] | None) -> bool:
    """Whether the API server keeps `status.reconciledGeneration` of apps under this CloudronApp CRD.

    No CRD yet: the one to be installed comes with this operator.
    """
    if crd is None:
        return True
    for version in crd.get("spec", {}).get("versions", []):
        if version.get("name") == VERSION:
            schema = version.get("schema", {}).get("openAPIV3Schema", {})
            status = schema.get("properties", {}).get("status", {})
            keeps_unknown = status.get("x-kubernetes-preserve-unknown-fields") is True
            return keeps_unknown or RECONCILED_GENERATION in status.get("properties", {})
    return False


DIGEST_KEY = "sha256"


def digested(essence: Mapping[str, Any]) -> kopf.BodyEssence:
    """Each part of an essence ({"spec": ..., "metadata": ...}) as its digest: kopf still sees a
    change of the spec as a change under `spec`, and stores a few bytes. Idempotent."""
    parts = {
        part: value if _is_digest(value) else {DIGEST_KEY: _digest(value)} for part, value in essence.items()
    }
    return cast(kopf.BodyEssence, parts)


def _is_digest(value: Any) -> bool:
    return isinstance(value, Mapping) and list(value) == [DIGEST_KEY] and isinstance(value[DIGEST_KEY], str)


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _essence(generation: Any) -> kopf.BodyEssence:
    return kopf.BodyEssence(spec={"generation": generation})


def _is_app(body: Mapping[str, Any]) -> bool:
    return body.get("apiVersion") == API_VERSION and body.get("kind") == "CloudronApp"


class ProgressAnnotationsStorage(kopf.AnnotationsProgressStorage):
    """kopf's progress annotations, marked only while there is progress to mark.

    kopf marks its annotations' prefix (`<prefix>/kopf-managed`: other kopf-based operators then
    leave them out of their diffs) whenever it records a handler's progress, and keeps the mark
    when a handler that succeeded at once has its record purged in the same cycle: a patch of the
    mark alone, one more write per new object. The mark goes on with progress records only.
    """

    def purge(self, *, key: kopf.HandlerId, body: kopf.Body, patch: kopf.Patch) -> None:
        super().purge(key=key, body=body, patch=patch)
        marker = f"{self.prefix}/kopf-managed"
        metadata = patch.get("metadata", {})
        annotations = metadata.get("annotations", {})
        ours = [name for name in annotations if name.startswith(f"{self.prefix}/") and name != marker]
        if marker in annotations and marker not in body.meta.annotations and not ours:
            del annotations[marker]
            if not annotations:
                del metadata["annotations"]
            if not metadata:
                del patch["metadata"]
