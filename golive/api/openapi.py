"""The API described as an OpenAPI 3.1 document (JSON Schema 2020-12 inside), served at
``GET /api/openapi.json``.

It is held to the code by tests/integration/test_openapi.py: every route of the router is
here with its method and nothing else is, and a property-based run (schemathesis) checks
that every answer has a documented status, media type and body. The request schemas say
exactly what the domain accepts (golive.accounts.domain), so a body valid here is valid
there.
"""

from __future__ import annotations

from typing import Any

from ..accounts.domain import PASSWORD_MAX, PASSWORD_MIN, TITLE_FORBIDDEN, TITLE_MAX
from .auth import (
    CSRF_COOKIE,
    CSRF_HEADER,
    DEVICE_COOKIE_PATH,
    DEVICE_COOKIE_PREFIX,
    SESSION_COOKIE,
)
from .body import FORM, JSON, MAX_BODY

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str, headers: Schema | None = None) -> Schema:
    response: Schema = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _error(name: str) -> Schema:
    return {"$ref": f"#/components/responses/{name}"}


def _body(name: str, media_type: str = JSON) -> Schema:
    return {"required": True, "content": {media_type: {"schema": _ref(name)}}}


_NO_STORE = {
    "Cache-Control": {
        "description": "``no-store``: the body is personal or secret",
        "required": True,
        "schema": {"type": "string", "const": "no-store"},
    }
}
_READ: list[Schema] = [{"bearer": []}, {"sessionCookie": []}]
# Unsafe methods on the cookie also need the CSRF header (see golive.api.auth).
_WRITE: list[Schema] = [{"bearer": []}, {"sessionCookie": [], "csrfToken": []}]
# Every JSON body can be too large, of the wrong media type, or malformed.
_BODY_ERRORS = {
    "400": _error("InvalidInput"),
    "413": _error("PayloadTooLarge"),
    "415": _error("UnsupportedMediaType"),
}
_SET_COOKIE = {
    "Set-Cookie": {
        "description": (
            f"``{SESSION_COOKIE}`` (HttpOnly; SameSite=Lax) and ``{CSRF_COOKIE}`` "
            "(SameSite=Strict), Path=/, Secure over https (RFC 6265)"
        ),
        "schema": {"type": "string"},
    }
}
_STREAM_KEY_RESPONSE = _json(_ref("StreamKey"), "the stream key and where to publish", _NO_STORE)

_SCHEMAS: Schema = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "description": "stable, machine-readable"},
                    "message": {"type": "string", "description": "for people"},
                    "field": {"type": "string", "description": "the input at fault"},
                },
            }
        },
    },
    "User": {
        "type": "object",
        "description": "The public view of an account: never the password hash or stream key.",
        "required": ["id", "username", "email", "created_at", "title"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"},
            "username": {"type": "string"},
            "email": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "title": {"type": "string", "description": "the room's title while live"},
        },
    },
    "SignUp": {
        "type": "object",
        "required": ["username", "email", "password"],
        "properties": {
            "username": {
                "type": "string",
                "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$",
                "description": "unique without regard to case; some names are reserved",
            },
            "email": {
                "type": "string",
                "maxLength": 254,
                "pattern": r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$",
            },
            "password": {"type": "string", "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX},
        },
    },
    "LogIn": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string", "minLength": 1},
            "password": {"type": "string", "minLength": 1},
        },
    },
    "Session": {
        "type": "object",
        "required": ["token", "csrf_token", "user"],
        "additionalProperties": False,
        "properties": {
            "token": {"type": "string", "description": "also usable as a bearer token"},
            "csrf_token": {"type": "string", "description": f"equals the {CSRF_COOKIE} cookie"},
            "user": _ref("User"),
        },
    },
    "TitleUpdate": {
        "type": "object",
        "required": ["title"],
        "properties": {
            "title": {
                "type": "string",
                "maxLength": TITLE_MAX,
                "pattern": f"^[^{TITLE_FORBIDDEN.pattern[1:-1]}]*$",
                "description": (
                    "no control, bidirectional (U+202A-U+202E, U+2066-U+2069) or zero-width"
                    " (U+200B, U+2060, U+FEFF) characters; U+200C and U+200D only between two"
                    " visible characters; surrounding spaces are trimmed"
                ),
            }
        },
    },
    "StreamKey": {
        "type": "object",
        "required": ["stream_key", "rtmp_url"],
        "additionalProperties": False,
        "properties": {
            "stream_key": {"type": "string"},
            "rtmp_url": {"type": "string", "description": "rtmp://<host>:<port>/live"},
            "rtmps_url": {
                "type": ["string", "null"],
                "description": "rtmps://<host>:<port>/live, or null when RTMPS is off",
            },
        },
    },
    "Room": {
        "type": "object",
        "required": [
            "name",
            "streamer",
            "title",
            "started_at",
            "codecs",
            "renditions",
            "width",
            "height",
            "hls_url",
            "preview_url",
            "viewers",
            "bitrate",
        ],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "description": "the streamer's username, lowercased"},
            "streamer": {"type": "string"},
            "title": {"type": "string"},
            "started_at": {"type": "string", "format": "date-time"},
            "codecs": {"type": "array", "items": {"type": "string"}, "description": "RFC 6381"},
            "renditions": {"type": "array", "items": {"type": "string"}},
            "width": {"type": ["integer", "null"]},
            "height": {"type": ["integer", "null"]},
            "hls_url": {
                "type": "string",
                "description": "the multivariant playlist: a path on this node, or an absolute "
                "URL on the node that serves the room when that is another one",
            },
            "preview_url": {
                "type": "string",
                "description": "a recent frame, as a JPEG: a path on this node, or an absolute "
                "URL on the node that serves the room",
            },
            "viewers": {
                "type": "integer",
                "minimum": 0,
                "description": "distinct players that fetched the room's playlists in the last "
                "30 s, on the node that serves it (0 on other nodes)",
            },
            "bitrate": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "bits per second of the source copy, on the node that serves "
                "it, once measured",
            },
        },
    },
    "RoomList": {
        "type": "object",
        "required": ["rooms"],
        "additionalProperties": False,
        "properties": {"rooms": {"type": "array", "items": _ref("Room")}},
    },
    "Health": {
        "type": "object",
        "required": ["status", "live_streams"],
        "properties": {
            "status": {"type": "string", "const": "ok"},
            "live_streams": {"type": "integer", "minimum": 0},
        },
    },
    "NginxCallback": {
        "type": "object",
        "description": "nginx-rtmp's notify fields; the others (app, addr, call...) are ignored",
        "required": ["name", "key"],
        "properties": {
            "name": {"type": "string", "description": "the stream name: the username"},
            "key": {"type": "string", "description": "the stream key"},
        },
    },
}

_SCHEMAS["Recording"] = {
    "type": "object",
    "description": "A recorded broadcast; its HLS is at playlist_url (README, Recordings).",
    "required": [
        "id", "owner", "status", "started_at", "ended_at", "duration", "size", "codecs",
        "width", "height", "paused", "discontinuities", "playlist_url", "renditions",
        "multivariant_url",
    ],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "owner": {"type": "string", "description": "the streamer's room name"},
        "status": {
            "enum": ["recording", "ended", "complete"],
            "description": "ended: a reconnect within the linger would continue it",
        },
        "started_at": {"type": "string", "format": "date-time"},
        "ended_at": {"type": ["string", "null"], "format": "date-time"},
        "duration": {"type": "number", "description": "seconds of media"},
        "size": {"type": "integer", "description": "bytes"},
        "codecs": {"type": "array", "items": {"type": "string"}},
        "width": {"type": ["integer", "null"]},
        "height": {"type": ["integer", "null"]},
        "paused": {"type": "boolean", "description": "skipping segments: the disk is full"},
        "discontinuities": {"type": "integer"},
        "playlist_url": {"type": "string", "description": "the source copy's media playlist"},
        "renditions": {"type": "array", "items": {"type": "string"}},
        "multivariant_url": {
            "type": ["string", "null"],
            "description": "every recorded rendition ([recordings] ladder = true), or null",
        },
    },
}  # fmt: skip
_SCHEMAS["RecordingList"] = {
    "type": "object",
    "required": ["recordings"],
    "additionalProperties": False,
    "properties": {"recordings": {"type": "array", "items": _ref("Recording")}},
}

_RESPONSES: Schema = {
    name: _json(_ref("Error"), description, headers)
    for name, description, headers in [
        ("InvalidInput", "malformed input; error.field names it", None),
        ("NotAuthenticated", "no valid session, or wrong credentials", None),
        ("Csrf", f"a cookie session without a matching {CSRF_HEADER} header", None),
        ("NotFound", "no such thing", None),
        ("Forbidden", "not yours: only a recording's streamer may delete it", None),
        ("Conflict", "taken already, or already live", None),
        ("PayloadTooLarge", f"the body exceeds {MAX_BODY} bytes", None),
        ("UnsupportedMediaType", "the body is not of the documented media type", None),
        (
            "RateLimited",
            "too many failed logins for this account or from this address",
            {
                "Retry-After": {
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                }
            },
        ),
    ]
}

_NGINX_OK = {
    "description": "the publish may go on",
    "content": {"text/plain": {"schema": {"type": "string", "const": "OK"}}},
}

_ID_PARAMETER = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}

_PATHS: Schema = {
    "/api/health": {
        "get": {
            "summary": "Liveness for load balancers",
            "responses": {"200": _json(_ref("Health"), "serving")},
        }
    },
    "/api/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {"200": _json({"type": "object"}, "the OpenAPI 3.1 document")},
        }
    },
    "/api/users": {
        "post": {
            "summary": "Sign up",
            "requestBody": _body("SignUp"),
            "responses": {
                "201": _json(_ref("User"), "the new account"),
                "409": _error("Conflict"),
                "429": _error("RateLimited"),
                **_BODY_ERRORS,
            },
        }
    },
    "/api/sessions": {
        "post": {
            "summary": "Log in",
            "description": (
                f"Sets the HttpOnly ``{SESSION_COOKIE}`` cookie and the ``{CSRF_COOKIE}`` "
                "cookie; the token is also usable as a bearer token. Also sets a device "
                f"cookie, ``{DEVICE_COOKIE_PREFIX}<name>`` (HttpOnly; SameSite=Lax; "
                f"Path={DEVICE_COOKIE_PATH}; a year): a later login that sends it back is "
                "counted against that browser only, not against the account's or the "
                "address's limits (SECURITY.md)."
            ),
            "requestBody": _body("LogIn"),
            "responses": {
                "201": _json(_ref("Session"), "logged in", {**_NO_STORE, **_SET_COOKIE}),
                "401": _error("NotAuthenticated"),
                "429": _error("RateLimited"),
                **_BODY_ERRORS,
            },
        }
    },
    "/api/sessions/current": {
        "delete": {
            "summary": "Log out: revoke the session and clear its cookies",
            "security": _WRITE,
            "responses": {
                "204": {
                    "description": "logged out; a cookie session's cookies are expired",
                    "headers": _SET_COOKIE,
                },
                "401": _error("NotAuthenticated"),
                "403": _error("Csrf"),
            },
        }
    },
    "/api/me": {
        "get": {
            "summary": "The logged-in user",
            "security": _READ,
            "responses": {
                "200": _json(_ref("User"), "the user", _NO_STORE),
                "401": _error("NotAuthenticated"),
            },
        },
        "patch": {
            "summary": "Set the room title",
            "security": _WRITE,
            "requestBody": _body("TitleUpdate"),
            "responses": {
                "200": _json(_ref("User"), "the updated user", _NO_STORE),
                "401": _error("NotAuthenticated"),
                "403": _error("Csrf"),
                **_BODY_ERRORS,
            },
        },
    },
    "/api/me/stream-key": {
        "get": {
            "summary": "The stream key and the RTMP URL to publish to",
            "security": _READ,
            "responses": {
                "200": _STREAM_KEY_RESPONSE,
                "400": _error("InvalidInput"),  # a Host header that names no host
                "401": _error("NotAuthenticated"),
            },
        },
        "post": {
            "summary": "Regenerate the stream key; the old one stops working at once",
            "security": _WRITE,
            "responses": {
                "200": _STREAM_KEY_RESPONSE,
                "400": _error("InvalidInput"),
                "401": _error("NotAuthenticated"),
                "403": _error("Csrf"),
            },
        },
    },
    "/api/rooms": {
        "get": {
            "summary": "The live rooms, oldest first",
            "responses": {"200": _json(_ref("RoomList"), "the live rooms")},
        }
    },
    "/api/rooms/{name}": {
        "get": {
            "summary": "One live room",
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": _json(_ref("Room"), "the room"),
                "404": _error("NotFound"),
            },
        }
    },
    "/api/rooms/{name}/preview.jpg": {
        "get": {
            "summary": "A recent frame of a live room, as a JPEG",
            "description": (
                "Decoded from a recent keyframe at most every few seconds, and only while "
                "someone asks; at most 640 pixels wide."
            ),
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "the frame",
                    "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                },
                "404": _error("NotFound"),
            },
        }
    },
    "/api/users/{name}/recordings": {
        "get": {
            "summary": "A streamer's recordings on this node, newest first",
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": _json(_ref("RecordingList"), "the recordings (none is an empty list)"),
                "404": _error("NotFound"),
            },
        }
    },
    "/api/recordings/{id}": {
        "get": {
            "summary": "One recording",
            "parameters": [_ID_PARAMETER],
            "responses": {
                "200": _json(_ref("Recording"), "the recording"),
                "404": _error("NotFound"),
            },
        },
        "delete": {
            "summary": "Delete a recording and its files (its streamer only)",
            "security": _WRITE,
            "parameters": [_ID_PARAMETER],
            "responses": {
                "204": {"description": "deleted"},
                "401": _error("NotAuthenticated"),
                "403": _error("Forbidden"),
                "404": _error("NotFound"),
            },
        },
    },
    "/rooms/create": {
        "post": {
            "summary": "nginx-rtmp on_publish: authorize the key and go live",
            "requestBody": _body("NginxCallback", FORM),
            "responses": {
                "200": _NGINX_OK,
                "401": _error("NotAuthenticated"),
                "409": _error("Conflict"),
                **_BODY_ERRORS,
            },
        }
    },
    "/rooms/update": {
        "post": {
            "summary": "nginx-rtmp on_update: keep the key owner's room live",
            "requestBody": _body("NginxCallback", FORM),
            "responses": {
                "200": _NGINX_OK,
                "401": _error("NotAuthenticated"),
                "409": _error("Conflict"),
                **_BODY_ERRORS,
            },
        }
    },
    "/rooms/delete": {
        "post": {
            "summary": "nginx-rtmp on_publish_done: end the key owner's room",
            "requestBody": _body("NginxCallback", FORM),
            "responses": {
                "200": _NGINX_OK,
                "401": _error("NotAuthenticated"),
                **_BODY_ERRORS,
            },
        }
    },
}

OPENAPI: Schema = {
    "openapi": "3.1.0",
    "info": {
        "title": "golive",
        "version": "1",
        "description": (
            "Accounts, sessions, stream keys and live rooms. Every error answers "
            '``{"error": {"code", "message", "field"?}}``.'
        ),
    },
    "paths": _PATHS,
    "components": {
        "schemas": _SCHEMAS,
        "responses": _RESPONSES,
        "securitySchemes": {
            "sessionCookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
            "csrfToken": {
                "type": "apiKey",
                "in": "header",
                "name": CSRF_HEADER,
                "description": f"the value of the {CSRF_COOKIE} cookie (double submit)",
            },
            "bearer": {"type": "http", "scheme": "bearer"},
        },
    },
}
