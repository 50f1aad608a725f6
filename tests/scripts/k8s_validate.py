#!/usr/bin/env python3
"""Offline Kubernetes validation for `profile export --format spo|kubelet` and `profile install`.

usage:
  k8s_validate.py crd CRD.yaml FILE...      SeccompProfile resources (JSON or YAML) against every
                                            served version's openAPIV3Schema, unknown fields
                                            rejected; prints "FILE: ok v1 v1beta1"
  k8s_validate.py pod VERSION FILE...       Pod snippets ({"securityContext": …}) embedded in a
                                            minimal Pod, at Pod and at container level, against
                                            kubernetes-validate's strict schema for VERSION (1.25.0
                                            to 1.37.0), plus the API server's own seccompProfile
                                            rules (type enum, descending localhostProfile)
  k8s_validate.py manifest VERSION FILE...  every document of each YAML file against
                                            kubernetes-validate's strict schema for VERSION
  k8s_validate.py json FILE                 the document as sorted JSON (to compare YAML with JSON)

Exit status: 0 valid, 1 invalid (the errors on stdout), 2 usage or missing packages.

The CRD check is structural-schema validation as the API server does it: jsonschema for the
OpenAPI keywords (type, enum, pattern, minimum, minItems, maxItems, required), `format` int32 and
int64 ranges, and unknown fields rejected (the API server prunes them, so a field we write that the
CRD lacks would be lost silently) by closing every object schema that declares properties, unless
it says x-kubernetes-preserve-unknown-fields. `metadata` (type object, no properties) stays open
and its name is checked as the API server does: a DNS-1123 subdomain.
"""
import copy
import json
import re
import sys

try:
    import jsonschema
    import yaml
except ImportError as err:
    print(f"k8s_validate.py: {err}: run `cargo xtask setup`", file=sys.stderr)
    sys.exit(2)

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def load(path):
    with open(path) as f:
        text = f.read()
    if path.endswith(".json"):
        return json.loads(text)
    return yaml.safe_load(text)


def closed(schema):
    """The schema with additionalProperties false wherever the CRD lists the properties."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if not isinstance(node, dict):
            return
        if (
            node.get("type") == "object"
            and "properties" in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in node
        ):
            node["additionalProperties"] = False
        for key in ("properties",):
            for child in node.get(key, {}).values():
                walk(child)
        if "items" in node:
            walk(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"])

    walk(schema)
    return schema


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("int32")
def int32(value):
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@FORMATS.checks("int64")
def int64(value):
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def crd(crd_path, files):
    docs = [d for d in yaml.safe_load_all(open(crd_path)) if d]
    definition = next(d for d in docs if d.get("kind") == "CustomResourceDefinition")
    group = definition["spec"]["group"]
    kind = definition["spec"]["names"]["kind"]
    versions = [
        (v["name"], closed(v["schema"]["openAPIV3Schema"]))
        for v in definition["spec"]["versions"]
        if v.get("served") and "schema" in v
    ]
    if not versions:
        print(f"{crd_path}: no served version has a schema", file=sys.stderr)
        return 2
    failed = False
    for path in files:
        doc = load(path)
        errors = []
        if doc.get("kind") != kind:
            errors.append(f"kind {doc.get('kind')!r}, want {kind!r}")
        name = (doc.get("metadata") or {}).get("name", "")
        if not (isinstance(name, str) and len(name) <= 253 and DNS1123_SUBDOMAIN.match(name)):
            errors.append(f"metadata.name {name!r} is not a DNS-1123 subdomain")
        passed = []
        for version, schema in versions:
            # The same spec checked as each served version, as after a conversion.
            as_version = dict(doc, apiVersion=f"{group}/{version}")
            validator = jsonschema.Draft4Validator(schema, format_checker=FORMATS)
            found = sorted(validator.iter_errors(as_version), key=lambda e: list(e.path))
            for e in found:
                where = ".".join(str(p) for p in e.path) or "."
                errors.append(f"{version}: {where}: {e.message}")
            if not found:
                passed.append(version)
        if doc.get("apiVersion") not in {f"{group}/{v}" for v, _ in versions}:
            errors.append(f"apiVersion {doc.get('apiVersion')!r} is not a served version")
        if errors:
            failed = True
            for error in errors:
                print(f"{path}: {error}")
        else:
            print(f"{path}: ok {' '.join(passed)}")
    return 1 if failed else 0


def seccomp_profile_rules(snippet):
    """What the API server's Go validation adds to the OpenAPI schema for seccompProfile."""
    profile = (snippet.get("securityContext") or {}).get("seccompProfile") or {}
    kind = profile.get("type")
    local = profile.get("localhostProfile")
    if kind not in ("Localhost", "RuntimeDefault", "Unconfined"):
        return [f"seccompProfile.type {kind!r} is not Localhost, RuntimeDefault or Unconfined"]
    if kind != "Localhost":
        return ["seccompProfile.localhostProfile set for a type other than Localhost"] if local else []
    if not local:
        return ["seccompProfile.localhostProfile is required for type Localhost"]
    if local.startswith("/") or ".." in local.split("/"):
        return [f"seccompProfile.localhostProfile {local!r} is not a descending relative path"]
    return []


def validator():
    """The kubernetes_validate module, or None after saying how to get it."""
    try:
        import kubernetes_validate
    except ImportError as err:
        print(f"k8s_validate.py: {err}: run `cargo xtask setup`", file=sys.stderr)
        return None
    return kubernetes_validate


def pod(version, files):
    kubernetes_validate = validator()
    if kubernetes_validate is None:
        return 2
    failed = False
    for path in files:
        snippet = load(path)
        container = {"name": "web", "image": "registry.example/web:1"}
        pods = {
            "pod level": {"spec": dict(snippet, containers=[container])},
            "container level": {"spec": {"containers": [dict(container, **snippet)]}},
        }
        for error in seccomp_profile_rules(snippet):
            failed = True
            print(f"{path}: {error}")
        for where, body in pods.items():
            manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, **body}
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
                print(f"{path}: ok {where} (Kubernetes {version}, strict)")
            except kubernetes_validate.ValidationError as err:
                failed = True
                where_in = ".".join(str(p) for p in err.path)
                print(f"{path}: {where} (Kubernetes {version}): {where_in}: {err.message}")
    return 1 if failed else 0


def manifest(version, files):
    kubernetes_validate = validator()
    if kubernetes_validate is None:
        return 2
    failed = False
    for path in files:
        with open(path) as f:
            documents = [d for d in yaml.safe_load_all(f) if d is not None]
        if not documents:
            failed = True
            print(f"{path}: no document")
        for document in documents:
            what = f"{document.get('kind')} {document.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(document, version, strict=True)
                print(f"{path}: ok {what} (Kubernetes {version}, strict)")
            except kubernetes_validate.ValidationError as err:
                failed = True
                where_in = ".".join(str(p) for p in err.path)
                print(f"{path}: {what} (Kubernetes {version}): {where_in}: {err.message}")
    return 1 if failed else 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "crd":
        return crd(argv[1], argv[2:])
    if len(argv) >= 3 and argv[0] == "pod":
        return pod(argv[1], argv[2:])
    if len(argv) >= 3 and argv[0] == "manifest":
        return manifest(argv[1], argv[2:])
    if len(argv) == 2 and argv[0] == "json":
        print(json.dumps(load(argv[1]), sort_keys=True))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
