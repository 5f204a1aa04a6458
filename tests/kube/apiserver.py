#!/usr/bin/env python3
"""A Kubernetes API server for exitwatch's tests: the real REST paths exitwatch's kube-rs client
uses (list/watch this node's pods, watch Events, create/patch events.k8s.io/v1 Events), over TLS
with a bearer token, and every object it is given validated against the Kubernetes OpenAPI schema
(kubernetes-validate, strict: unknown fields are errors) before it is accepted.

No kube-apiserver is packaged for these machines; this one keeps objects in memory and speaks
just enough of the API for the client to be the real one. Tests drive it through /_test/ paths
(with their own token): put pods, post kubelet Events, read what exitwatch posted, deny a verb
(RBAC) or take the API down (`true`: connections close unanswered, as when it restarts;
`"503"`: every request is answered 503 Service Unavailable, as by an overloaded server or a
load balancer with no server behind it).

    apiserver.py --port P --cert C --key K --token T --control-token CT [--version 1.37.0]

prints `listening on PORT` when ready.
"""

import argparse
import copy
import json
import re
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import kubernetes_validate

# Resources this server knows: (group/version prefix, plural) -> kind.
POD = ("/api/v1", "pods")
CORE_EVENT = ("/api/v1", "events")
EVENT = ("/apis/events.k8s.io/v1", "events")
KINDS = {POD: ("v1", "Pod"), CORE_EVENT: ("v1", "Event"), EVENT: ("events.k8s.io/v1", "Event")}
MAX_BODY = 1 << 20
BOOKMARK_EVERY = 5.0
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
# What an update of an events.k8s.io Event may not change (the real ValidateEventUpdate).
IMMUTABLE_EVENT_FIELDS = (
    "regarding",
    "related",
    "reason",
    "note",
    "type",
    "eventTime",
    "action",
    "reportingController",
    "reportingInstance",
    "deprecatedSource",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "deprecatedCount",
)


class Store:
    """Objects by resource, namespace and name, each change numbered (resourceVersion) and
    offered to the open watches."""

    def __init__(self):
        self.lock = threading.Condition()
        self.version = 1
        self.objects = {key: {} for key in KINDS}
        self.changes = []  # (version, resource, type, object)
        self.posted = []  # what the client created or patched, in order
        self.requests = []  # (method, path, query, status)
        self.denied = set()  # (verb, plural)
        self.down = False

    def put(self, resource, obj, kind="ADDED"):
        with self.lock:
            self.version += 1
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            meta["resourceVersion"] = str(self.version)
            meta.setdefault("uid", f"uid-{self.version}")
            meta.setdefault("creationTimestamp", now())
            key = (meta.get("namespace", ""), meta["name"])
            if kind == "ADDED" and key in self.objects[resource]:
                kind = "MODIFIED"
            if kind == "DELETED":
                self.objects[resource].pop(key, None)
            else:
                self.objects[resource][key] = obj
            self.changes.append((self.version, resource, kind, obj))
            self.lock.notify_all()
            return obj


def qualified_name(v):
    """Kubernetes' IsQualifiedName: [prefix/]name, name ≤ 63 of [-A-Za-z0-9_.] with alphanumeric
    ends, prefix a DNS subdomain."""
    prefix, slash, name = v.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and QUALIFIED_NAME.fullmatch(name) is not None


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def status(code, reason, message):
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# The field labels the real API server supports for each resource (anything else is a 400), and
# what object path each one reads: for core Events `source` means `source.component`.
FIELD_LABELS = {
    POD: {
        "metadata.name": "metadata.name",
        "metadata.namespace": "metadata.namespace",
        "spec.nodeName": "spec.nodeName",
        "spec.restartPolicy": "spec.restartPolicy",
        "spec.schedulerName": "spec.schedulerName",
        "spec.serviceAccountName": "spec.serviceAccountName",
        "spec.hostNetwork": "spec.hostNetwork",
        "status.phase": "status.phase",
        "status.podIP": "status.podIP",
        "status.nominatedNodeName": "status.nominatedNodeName",
    },
    CORE_EVENT: {
        "metadata.name": "metadata.name",
        "metadata.namespace": "metadata.namespace",
        "involvedObject.kind": "involvedObject.kind",
        "involvedObject.namespace": "involvedObject.namespace",
        "involvedObject.name": "involvedObject.name",
        "involvedObject.uid": "involvedObject.uid",
        "involvedObject.apiVersion": "involvedObject.apiVersion",
        "involvedObject.resourceVersion": "involvedObject.resourceVersion",
        "involvedObject.fieldPath": "involvedObject.fieldPath",
        "reason": "reason",
        "reportingComponent": "reportingComponent",
        "source": "source.component",
        "type": "type",
    },
    EVENT: {"metadata.name": "metadata.name", "metadata.namespace": "metadata.namespace"},
}


def parse_field_selector(resource, selector):
    """[(path, op, value)] for `label=v`, `label==v`, `label!=v` terms joined by commas; raises
    ValueError (a 400) for a field label the resource does not support, as the real one does."""
    terms = []
    for term in filter(None, (selector or "").split(",")):
        if "!=" in term:
            label, _, want = term.partition("!=")
            op = "!="
        else:
            label, _, want = term.partition("=")
            want = want[1:] if want.startswith("=") else want
            op = "="
        if "=" not in term:
            raise ValueError(f"invalid selector: {term!r}; can't understand it")
        path = FIELD_LABELS[resource].get(label)
        if path is None:
            raise ValueError(f'field label not supported: {label}')
        terms.append((path, op, want))
    return terms


def field_selector_matches(terms, obj):
    for path, op, want in terms:
        value = obj
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, bool):
            value = "true" if value else "false"
        same = str(value if value is not None else "") == want
        if same != (op == "="):
            return False
    return True


def route(path):
    """(resource, namespace, name) for an API path, or None."""
    for (prefix, plural) in KINDS:
        if not path.startswith(prefix + "/"):
            continue
        rest = path[len(prefix) + 1 :].split("/")
        if rest == [plural]:
            return (prefix, plural), None, None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] == plural:
            if len(rest) == 3:
                return (prefix, plural), rest[1], None
            if len(rest) == 4:
                return (prefix, plural), rest[1], rest[3]
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "exitwatch-test-apiserver"

    def log_message(self, fmt, *args):
        pass

    # Plumbing

    def body(self):
        """The request's body, read once. `dispatch` reads it before any answer: an answer that
        left it unread on a kept-alive connection would have the next request line read from
        it (seen in CI as a `Bad request version` traceback and a dropped connection)."""
        if self._body is None:
            n = self.headers.get("Content-Length") or "0"
            # A body left unread cannot be skipped: the connection ends with the answer.
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                raise ValueError("a chunked request body is not served here")
            if not (n.isascii() and n.isdigit()) or int(n) > MAX_BODY:
                self.close_connection = True
                raise ValueError(f"Content-Length {n!r}: not a length up to {MAX_BODY}")
            self._body = self.rfile.read(int(n)) if n != "0" else b""
        return self._body

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.note(code)

    def note(self, code):
        u = urllib.parse.urlsplit(self.path)
        with self.server.store.lock:
            self.server.store.requests.append(
                {"method": self.command, "path": u.path, "query": u.query, "status": code}
            )

    def authorized(self, token):
        return self.headers.get("Authorization", "") == f"Bearer {token}"

    def validate(self, obj):
        try:
            kubernetes_validate.validate(obj, self.server.k8s_version, strict=True)
            return None
        except kubernetes_validate.ValidationError as e:
            return f"{e.message} at {'.'.join(str(p) for p in e.path)}"
        except Exception as e:  # schema not found and the like: refuse, loudly
            return f"cannot validate: {e}"

    # Dispatch

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        u = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(u.query))
        self._body = None
        try:
            self.body()
            if u.path.startswith("/_test/"):
                if not self.authorized(self.server.control_token):
                    return self.send_json(401, status(401, "Unauthorized", "control token"))
                return self.control(u.path, query)
            store = self.server.store
            if store.down == "503":
                return self.send_json(503, status(503, "ServiceUnavailable", "down for the test"))
            if store.down:
                # Gone as a restarting API server is: the connection closes with no answer.
                self.close_connection = True
                return self.note(0)
            if not self.authorized(self.server.token):
                return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            if u.path in ("/version", "/version/"):
                return self.send_json(200, {"major": "1", "minor": "37", "gitVersion": "v1.37.0"})
            r = route(u.path)
            if r is None:
                return self.send_json(404, status(404, "NotFound", f"no route {u.path}"))
            resource, ns, name = r
            verb = {
                "GET": "watch" if query.get("watch") in ("1", "true") else ("get" if name else "list"),
                "POST": "create",
                "PATCH": "patch",
                "PUT": "update",
                "DELETE": "delete",
            }[self.command]
            if (verb, resource[1]) in store.denied:
                return self.send_json(
                    403,
                    status(
                        403,
                        "Forbidden",
                        f'{resource[1]}{"" if not resource[0].startswith("/apis/") else "." + resource[0].split("/")[2]} '
                        f'is forbidden: User "system:serviceaccount:exitwatch:exitwatch" '
                        f'cannot {verb} resource "{resource[1]}" in API group '
                        f'"{resource[0].split("/")[2] if resource[0].startswith("/apis/") else ""}" '
                        + (f'in the namespace "{ns}"' if ns else "at the cluster scope"),
                    ),
                )
            if verb == "list":
                return self.list(resource, ns, query)
            if verb == "watch":
                return self.watch(resource, ns, query)
            if verb == "get":
                obj = store.objects[resource].get((ns or "", name))
                if obj is None:
                    return self.send_json(404, status(404, "NotFound", f"{name} not found"))
                return self.send_json(200, obj)
            if verb == "create" and resource == EVENT and ns and not name:
                return self.create(resource, ns)
            if verb == "patch" and resource == EVENT and ns and name:
                return self.patch(resource, ns, name)
            return self.send_json(405, status(405, "MethodNotAllowed", f"{verb} not served here"))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except ValueError as e:
            self.send_json(400, status(400, "BadRequest", str(e)))

    # The API

    def selected(self, resource, ns, terms):
        store = self.server.store
        return [
            o
            for (ons, _), o in sorted(store.objects[resource].items())
            if (ns is None or ons == ns) and field_selector_matches(terms, o)
        ]

    def list(self, resource, ns, query):
        """A list the way the real one answers kube-rs's watcher: `resourceVersion=0` with
        `resourceVersionMatch=NotOlderThan` (any version, served whole: `limit` is ignored there),
        or unset (the newest, in pages of `limit` with a `continue` token). Items carry no
        kind/apiVersion, as in the real lists."""
        store = self.server.store
        terms = parse_field_selector(resource, query.get("fieldSelector"))
        rv = query.get("resourceVersion")
        match = query.get("resourceVersionMatch")
        if match is not None:
            if rv is None:
                raise ValueError("resourceVersionMatch is forbidden unless resourceVersion is provided")
            if match not in ("NotOlderThan", "Exact"):
                raise ValueError(f"resourceVersionMatch: unsupported value {match!r}")
            if match == "Exact" and rv == "0":
                raise ValueError("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"")
        if rv not in (None, "", "0") and not rv.isdigit():
            raise ValueError(f"resourceVersion: invalid value {rv!r}")
        with store.lock:
            items = self.selected(resource, ns, terms)
            version = store.version
        start = 0
        token = query.get("continue")
        if token:
            if rv not in (None, ""):
                raise ValueError("specifying resource version is not allowed when using continue")
            try:
                tv, _, offset = token.partition(":")
                version, start = int(tv), int(offset)
            except ValueError:
                raise ValueError("continue key is not valid") from None
        meta = {"resourceVersion": str(version)}
        limit = int(query.get("limit") or 0)
        if limit > 0 and rv != "0" and start + limit < len(items):
            meta["continue"] = f"{version}:{start + limit}"
            meta["remainingItemCount"] = len(items) - start - limit
            items = items[start : start + limit]
        else:
            items = items[start:]
        api_version, kind = KINDS[resource]
        items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items]
        self.send_json(
            200,
            {"kind": kind + "List", "apiVersion": api_version, "metadata": meta, "items": items},
        )

    def watch(self, resource, ns, query):
        """Changes after `resourceVersion` (from `resourceVersion` 0 or none: every current object
        as ADDED first), in chunks; BOOKMARKs every few seconds when `allowWatchBookmarks=true`;
        ends after `timeoutSeconds` or when the test takes the API down."""
        store = self.server.store
        terms = parse_field_selector(resource, query.get("fieldSelector"))
        rv = query.get("resourceVersion") or "0"
        if not rv.isdigit():
            raise ValueError(f"resourceVersion: invalid value {rv!r}")
        since = int(rv)
        bookmarks = query.get("allowWatchBookmarks") == "true"
        timeout = float(query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + min(timeout, 1800)
        api_version, kind = KINDS[resource]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.note(200)

        def send(kind_, obj):
            line = json.dumps({"type": kind_, "object": obj}).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        if since == 0:
            with store.lock:
                initial = self.selected(resource, ns, terms)
                since = store.version
            for obj in initial:
                send("ADDED", obj)
        last_bookmark = time.monotonic()
        while time.monotonic() < deadline and not store.down:
            with store.lock:
                pending = [c for c in store.changes if c[0] > since and c[1] == resource]
                if not pending:
                    store.lock.wait(timeout=0.5)
            for version_, _, kind_, obj in pending:
                since = version_
                if ns is not None and obj["metadata"].get("namespace") != ns:
                    continue
                if not field_selector_matches(terms, obj):
                    continue
                send(kind_, obj)
            if bookmarks and time.monotonic() - last_bookmark > BOOKMARK_EVERY:
                last_bookmark = time.monotonic()
                send(
                    "BOOKMARK",
                    {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": str(since)}},
                )
        if not store.down:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        self.close_connection = True

    def event_problems(self, obj):
        """What the real API server's events.k8s.io/v1 validation refuses beyond the schema
        (ValidateEventCreate: strict for this group)."""
        problems = []
        meta = obj.get("metadata") or {}
        name = meta.get("name") or ""
        if not name:
            problems.append("metadata.name: Required value: name or generateName is required")
        elif not DNS_SUBDOMAIN.fullmatch(name) or len(name) > 253:
            problems.append(f"metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 subdomain")
        rc = obj.get("reportingController") or ""
        if not rc:
            problems.append("reportingController: Required value")
        elif not qualified_name(rc):
            problems.append(f"reportingController: Invalid value: {rc!r}: not a qualified name")
        ri = obj.get("reportingInstance") or ""
        if not ri:
            problems.append("reportingInstance: Required value")
        elif len(ri.encode()) > 128:
            problems.append("reportingInstance: Invalid value: can have at most 128 characters")
        for field in ("action", "reason"):
            v = obj.get(field) or ""
            if not v:
                problems.append(f"{field}: Required value")
            elif len(v.encode()) > 128:
                problems.append(f"{field}: Invalid value: can have at most 128 characters")
        if len((obj.get("note") or "").encode()) > 1024:
            problems.append("note: Invalid value: can have at most 1024 characters")
        if not obj.get("eventTime"):
            problems.append("eventTime: Required value")
        if obj.get("type") not in ("Normal", "Warning"):
            problems.append(f"type: Invalid value: has invalid value: {obj.get('type')}")
        for field in ("deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"):
            if obj.get(field):
                problems.append(f"{field}: Invalid value: needs to be unset")
        source = obj.get("deprecatedSource") or {}
        if source.get("component") or source.get("host"):
            problems.append("deprecatedSource: Invalid value: needs to be unset")
        regarding = obj.get("regarding") or {}
        if not regarding.get("namespace") and meta.get("namespace") not in ("default", "kube-system"):
            problems.append("regarding.namespace: Invalid value: does not match event.namespace")
        series = obj.get("series")
        if series is not None:
            if (series.get("count") or 0) < 2:
                problems.append("series.count: Invalid value: should be at least 2")
            if not series.get("lastObservedTime"):
                problems.append("series.lastObservedTime: Required value")
        return "; ".join(problems) or None

    def create(self, resource, ns):
        obj = json.loads(self.body())
        if not isinstance(obj, dict):
            raise ValueError("not an object")
        api_version, kind = KINDS[resource]
        if obj.get("apiVersion") != api_version or obj.get("kind") != kind:
            return self.send_json(400, status(400, "BadRequest", "apiVersion/kind mismatch"))
        meta = obj.get("metadata") or {}
        meta.setdefault("namespace", ns)
        if meta["namespace"] != ns:
            return self.send_json(
                400, status(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
            )
        if "name" not in meta and "generateName" in meta:
            meta["name"] = meta["generateName"] + f"{self.server.store.version:x}"
        obj["metadata"] = meta
        problem = self.validate(obj) or self.event_problems(obj)
        if problem is None and (meta["namespace"], meta.get("name")) in self.server.store.objects[resource]:
            return self.send_json(409, status(409, "AlreadyExists", f"events \"{meta['name']}\" already exists"))
        with self.server.store.lock:
            self.server.store.posted.append({"verb": "create", "object": obj, "invalid": problem})
        if problem:
            return self.send_json(422, status(422, "Invalid", problem))
        self.send_json(201, self.server.store.put(resource, obj))

    def patch(self, resource, ns, name):
        store = self.server.store
        kind = self.headers.get("Content-Type", "").split(";")[0].strip()
        if kind not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            return self.send_json(415, status(415, "UnsupportedMediaType", kind))
        patch = json.loads(self.body())
        if not isinstance(patch, dict):
            raise ValueError("a merge patch of an object must be an object")
        current = store.objects[resource].get((ns, name))
        if current is None:
            return self.send_json(404, status(404, "NotFound", f'events.events.k8s.io "{name}" not found'))
        merged = merge_patch(current, patch)
        merged["metadata"].pop("resourceVersion", None)
        problem = self.validate(merged) or self.event_problems(merged)
        # ValidateEventUpdate: only the series (and metadata) of an Event may change.
        changed = [f for f in IMMUTABLE_EVENT_FIELDS if merged.get(f) != current.get(f)]
        for f in ("name", "namespace", "uid"):
            if merged["metadata"].get(f) != current["metadata"].get(f):
                changed.append(f"metadata.{f}")
        if changed and not problem:
            problem = "; ".join(f"{f}: Invalid value: field is immutable" for f in changed)
        with store.lock:
            store.posted.append({"verb": "patch", "object": merged, "patch": patch, "invalid": problem})
        if problem:
            return self.send_json(422, status(422, "Invalid", problem))
        self.send_json(200, store.put(resource, merged, "MODIFIED"))

    # What the tests drive

    def control(self, path, query):
        store = self.server.store
        if path == "/_test/posted" and self.command == "GET":
            with store.lock:
                return self.send_json(200, store.posted)
        if path == "/_test/requests" and self.command == "GET":
            with store.lock:
                return self.send_json(200, store.requests)
        if path == "/_test/pods" and self.command in ("PUT", "DELETE"):
            obj = json.loads(self.body())
            obj.setdefault("apiVersion", "v1")
            obj.setdefault("kind", "Pod")
            problem = self.validate(obj)
            if problem:
                return self.send_json(422, status(422, "Invalid", problem))
            kind = "DELETED" if self.command == "DELETE" else "ADDED"
            return self.send_json(200, store.put(POD, obj, kind))
        if path == "/_test/events" and self.command == "POST":
            obj = json.loads(self.body())
            obj.setdefault("apiVersion", "v1")
            obj.setdefault("kind", "Event")
            problem = self.validate(obj)
            if problem:
                return self.send_json(422, status(422, "Invalid", problem))
            return self.send_json(200, store.put(CORE_EVENT, obj))
        if path == "/_test/deny" and self.command == "PUT":
            with store.lock:
                store.denied = {tuple(d.split(":", 1)) for d in json.loads(self.body())}
            return self.send_json(200, sorted(store.denied))
        if path == "/_test/down" and self.command == "PUT":
            with store.lock:
                down = json.loads(self.body())
                store.down = down if down == "503" else bool(down)
                store.lock.notify_all()
            return self.send_json(200, store.down)
        self.send_json(404, status(404, "NotFound", path))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--control-token", required=True)
    p.add_argument("--version", default="1.37.0")
    a = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.store = Store()
    server.token = a.token
    server.control_token = a.control_token
    server.k8s_version = a.version
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
