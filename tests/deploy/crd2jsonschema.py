"""Turn CustomResourceDefinition YAML into the JSON schemas kubeconform reads.

Usage: python crd2jsonschema.py OUT_DIR CRD.yaml [CRD.yaml ...]

Writes OUT_DIR/<group>/<kind>_<version>.json for every served version of every CRD, which
kubeconform finds with
`-schema-location 'OUT_DIR/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'`.
The conversion follows kubeconform's own openapi2jsonschema script: nested objects that declare
their properties reject unknown fields (as the API server's structural-schema pruning would drop
them silently, which is how typos hide), `x-kubernetes-int-or-string` becomes string-or-integer,
and the root object accepts apiVersion, kind and metadata.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads a bare `=` (YAML 1.1's value tag, used in some CRD enums) as text."""


def _value_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:value", _value_as_text)


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {key: _strict(value) for key, value in node.items()}
        if out.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out.pop("format", None)
            out["oneOf"] = [{"type": "string"}, {"type": "integer"}]
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(item) for item in node]
    return node


def convert(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Map of relative output path -> JSON schema for one CRD document."""
    spec = crd["spec"]
    group = spec["group"]
    kind = spec["names"]["kind"].lower()
    out: dict[str, dict[str, Any]] = {}
    for version in spec.get("versions", []):
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not schema:
            continue
        root = _strict(schema)
        root.pop("additionalProperties", None)  # the root stays open, as in openapi2jsonschema
        props = root.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
        root["$schema"] = "http://json-schema.org/draft-07/schema#"
        out[f"{group}/{kind}_{version['name']}.json"] = root
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = Path(argv[1])
    written = 0
    for path in argv[2:]:
        with open(path, encoding="utf-8") as fh:
            for doc in yaml.load_all(fh, Loader=_Loader):
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                for rel, schema in convert(doc).items():
                    target = out_dir / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(json.dumps(schema, indent=1, sort_keys=True), "utf-8")
                    written += 1
    if written == 0:
        print("no CRD schemas found", file=sys.stderr)
        return 1
    print(f"wrote {written} CRD schemas to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
