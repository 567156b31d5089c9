"""Every GraphQL document PlexSync sends must work against a real Stash and against the stand-in.

Stash's real schema (../shared/stash-schema) is the authority; the stand-in's SDL must be a
faithful subset of it, or a test could pass against the stand-in with a query Stash rejects.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeNode,
    build_schema,
    is_input_type,
    parse,
    type_from_ast,
    validate,
)

from stash.queries import ALL_DOCUMENTS
from tests.standins.fake_stash import (
    REAL_SCHEMA_DIR,
    STANDIN_SCHEMA_PATH,
    FakeStash,
    load_real_schema,
)

REAL_SCHEMA = load_real_schema(REAL_SCHEMA_DIR)
STANDIN_SCHEMA = build_schema(STANDIN_SCHEMA_PATH.read_text(encoding="utf-8"))
needs_real_schema = pytest.mark.skipif(
    REAL_SCHEMA is None,
    reason=f"Stash's real schema folder is missing: {REAL_SCHEMA_DIR} (expected at <repo>/../shared/stash-schema)",
)
DOCUMENT_NAMES = sorted(ALL_DOCUMENTS)

TINY_PLUGIN_YML = """\
name: Documents Probe
exec: [python, "{pluginDir}/run.py"]
interface: raw
tasks:
  - name: Echo
    description: prints a fixed result
    defaultArgs: {mode: echo}
"""
TINY_PLUGIN_PY = (
    'import sys, json\nsys.stdin.read()\nprint(json.dumps({"output": "ok", "error": None}))\n'
)

# Sample values by variable name: chosen so every top-level field returns something non-null.
SAMPLES_BY_NAME: dict[str, Any] = {
    "since": "2000-01-01T00:00:00Z",
    "page": 1,
    "per_page": 10,
    "task_name": "Echo",
    "description": "documents test",
    "args_map": {"mode": "echo"},
    "input": {"plex_url": "http://127.0.0.1:32400"},
    "times": ["2026-01-11T07:07:53Z"],
    "resume_time": 61.5,
    "depth": -1,
}


class StepClock:
    """Moves only when told to, so second-precision updated_at values are predictable."""

    def __init__(self) -> None:
        self.now = 1_768_115_273.0  # 2026-01-11T07:07:53Z

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def stash(tmp_path: Path, clock: StepClock) -> Iterator[FakeStash]:
    plugin_dir = tmp_path / "plugins" / "docs"
    plugin_dir.mkdir(parents=True)
    (plugin_dir / "docsProbe.yml").write_text(TINY_PLUGIN_YML, encoding="utf-8")
    (plugin_dir / "run.py").write_text(TINY_PLUGIN_PY, encoding="utf-8")
    with FakeStash(
        plugin_dir, stash_dir=tmp_path / "home", tz_offset_minutes=660, clock=clock
    ) as fake:
        fake.add_scene("Scene", ["/media/scene.mp4"], performers=["P"], tags=["T"], studio="S")
        fake.set_plugin_settings({"plex_url": "http://127.0.0.1:32400"})
        yield fake


def _operation(document: str) -> OperationDefinitionNode:
    operations = [d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1, "each document must hold exactly one operation"
    return operations[0]


def _standin_input_type(node: TypeNode) -> GraphQLInputType:
    var_type = type_from_ast(STANDIN_SCHEMA, node)
    assert is_input_type(var_type), f"{node} is not an input type of the stand-in schema"
    return cast(GraphQLInputType, var_type)


def _sample(name: str, var_type: GraphQLInputType, stash: FakeStash) -> Any:
    if name == "plugin_id":
        return stash.plugin_id
    if name == "include":
        return [stash.plugin_id]
    if name == "id":
        return stash.scene_ids()[0]
    if name == "ids":
        return [stash.find_performer("P"), stash.find_tag("T"), stash.find_studio("S")]
    if name in SAMPLES_BY_NAME:
        return SAMPLES_BY_NAME[name]
    inner = var_type.of_type if isinstance(var_type, GraphQLNonNull) else var_type
    if isinstance(inner, GraphQLList):
        return [_sample(name, inner.of_type, stash)]
    if isinstance(inner, GraphQLScalarType):
        return {"ID": "1", "String": "x", "Int": 1, "Float": 1.0, "Boolean": True}.get(
            inner.name, {}
        )
    pytest.fail(f"no sample value for ${name} ({var_type}); add one to SAMPLES_BY_NAME")


# ----------------------------------------------------------------------------- real schema


@needs_real_schema
@pytest.mark.parametrize("name", DOCUMENT_NAMES)
def test_document_is_valid_against_stash_real_schema(name: str) -> None:
    assert REAL_SCHEMA is not None
    errors = validate(REAL_SCHEMA, parse(ALL_DOCUMENTS[name]))
    assert [e.message for e in errors] == []


# ----------------------------------------------------------------------------- stand-in


@pytest.mark.parametrize("name", DOCUMENT_NAMES)
def test_document_is_valid_against_standin_schema(name: str) -> None:
    errors = validate(STANDIN_SCHEMA, parse(ALL_DOCUMENTS[name]))
    assert [e.message for e in errors] == [], "extend tests/standins/stash_schema.graphql"


@pytest.mark.parametrize("name", DOCUMENT_NAMES)
def test_document_is_answered_by_the_standin(name: str, stash: FakeStash) -> None:
    document = ALL_DOCUMENTS[name]
    operation = _operation(document)
    variables = {
        d.variable.name.value: _sample(
            d.variable.name.value,
            _standin_input_type(d.type),
            stash,
        )
        for d in operation.variable_definitions or ()
    }
    status, reply = stash.graphql_http(document, variables)
    assert status == 200, reply
    assert "errors" not in reply, reply["errors"]
    assert all(value is not None for value in reply["data"].values()), reply["data"]
    stash.wait_for_jobs(30)
    assert stash.schema_violations == []
    assert [d.query for d in stash.received_documents] == [document]


def test_updated_since_document_returns_only_newer_scenes(
    stash: FakeStash, clock: StepClock
) -> None:
    """The cursor query, run the way the plugin runs it: Stash's own value as the cursor."""
    document = ALL_DOCUMENTS["SCENE_STAMPS_SINCE"]
    first = stash.scene(stash.scene_ids()[0])
    assert first["updated_at"] == "2026-01-11T18:07:53+11:00"
    variables = {"since": first["updated_at"], "page": 1, "per_page": 10}
    assert stash.graphql(document, variables)["data"]["findScenes"] == {"count": 0, "scenes": []}
    same_second = stash.add_scene("Same second", ["/media/same.mp4"])
    # Second precision: an edit in the cursor's own second is invisible to GREATER_THAN.
    assert stash.graphql(document, variables)["data"]["findScenes"]["count"] == 0
    clock.now += 1
    stash.silent_update(same_second, title="A second later")
    reply = stash.graphql(document, variables)["data"]["findScenes"]
    assert reply["count"] == 1 and reply["scenes"][0]["id"] == same_second
    assert reply["scenes"][0]["updated_at"] == "2026-01-11T18:07:54+11:00"


# ----------------------------------------------------------------------------- SDL subset


def _named(schema: GraphQLSchema) -> dict[str, Any]:
    return {n: t for n, t in schema.type_map.items() if not n.startswith("__")}


def _required(fields: dict[str, Any]) -> set[str]:
    return {
        n
        for n, f in fields.items()
        if isinstance(f.type, GraphQLNonNull) and f.default_value is None
    }


@needs_real_schema
def test_standin_schema_is_a_faithful_subset_of_stash() -> None:
    """Same names, types and nullability as Stash; nothing required by Stash may be missing."""
    assert REAL_SCHEMA is not None
    real_types = _named(REAL_SCHEMA)
    problems: list[str] = []
    for name, ours in _named(STANDIN_SCHEMA).items():
        theirs = real_types.get(name)
        if theirs is None or type(theirs) is not type(ours):
            problems.append(f"{name}: not a {type(ours).__name__} in Stash")
            continue
        if isinstance(ours, GraphQLEnumType):
            problems += [
                f"{name}.{v}: no such enum value" for v in set(ours.values) - set(theirs.values)
            ]
        if isinstance(ours, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in ours.fields.items():
                real_field = theirs.fields.get(field_name)
                if real_field is None:
                    problems.append(f"{name}.{field_name}: not in Stash")
                elif str(real_field.type) != str(field.type):
                    problems.append(
                        f"{name}.{field_name}: {field.type} here, {real_field.type} in Stash"
                    )
                elif not isinstance(ours, GraphQLInputObjectType):
                    for arg_name, arg in field.args.items():
                        real_arg = real_field.args.get(arg_name)
                        if real_arg is None or str(real_arg.type) != str(arg.type):
                            problems.append(f"{name}.{field_name}({arg_name}): differs from Stash")
                    missing = _required(real_field.args) - set(field.args)
                    problems += [
                        f"{name}.{field_name}: Stash requires argument {a}" for a in missing
                    ]
        if isinstance(ours, GraphQLInputObjectType):
            missing = _required(theirs.fields) - set(ours.fields)
            problems += [f"{name}: Stash requires input field {f}" for f in missing]
    assert problems == []
