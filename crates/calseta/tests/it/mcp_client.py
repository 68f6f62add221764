"""An independent MCP client for the integration tests: the official Python SDK (`mcp` on PyPI).

Reads a plan (JSON) on stdin, connects once over streamable HTTP or stdio, initializes, runs the
plan's operations in order and prints one JSON object: the initialize result and one outcome per
operation. The Rust tests decide what is right; this script only drives the protocol.

Plan:
  {"transport": "http", "url": "...", "key": "cai_..."}   or
  {"transport": "stdio", "command": "...", "args": [...], "env": {...}}
  "ops": [{"op": "list_resources" | "list_templates" | "list_tools"},
          {"op": "read", "uri": "..."},
          {"op": "call", "name": "...", "arguments": {...}},
          {"op": "rest", "method": "DELETE", "url": "...", "key": "cai_..."},
          {"op": "until_refused", "inner": {...}, "timeout": 15}]
A string argument "$N.a.b" is replaced by field a.b of operation N's value (0-based).
"""

import asyncio
import json
import sys

import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client


def dump(model):
    return json.loads(model.model_dump_json(by_alias=True, exclude_none=True))


def resolve(value, outcomes):
    if isinstance(value, str) and value.startswith("$") and "." in value:
        index, path = value[1:].split(".", 1)
        found = outcomes[int(index)]["value"]
        for part in path.split("."):
            found = found[int(part)] if isinstance(found, list) else found[part]
        return found
    if isinstance(value, dict):
        return {k: resolve(v, outcomes) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, outcomes) for v in value]
    return value


def parse_text(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


async def run_op(session, op, outcomes):
    kind = op["op"]
    if kind == "list_resources":
        result = dump(await session.list_resources())
        return {"ok": True, "value": result["resources"]}
    if kind == "list_templates":
        result = dump(await session.list_resource_templates())
        return {"ok": True, "value": result["resourceTemplates"]}
    if kind == "list_tools":
        result = dump(await session.list_tools())
        return {"ok": True, "value": result["tools"]}
    if kind == "read":
        uri = resolve(op["uri"], outcomes)
        result = dump(await session.read_resource(uri))
        contents = result["contents"]
        return {"ok": True, "uri": uri, "mime_type": contents[0].get("mimeType"),
                "value": parse_text(contents[0]["text"])}
    if kind == "until_refused":  # poll: repeat an operation until it is refused, within a deadline
        deadline = asyncio.get_running_loop().time() + op.get("timeout", 15)
        while True:
            await run_op(session, op["inner"], outcomes)  # a refusal raises: the outcome the test wants
            if asyncio.get_running_loop().time() > deadline:
                return {"ok": True, "value": "never refused"}
            await asyncio.sleep(0.2)
    if kind == "rest":  # a REST request made mid-session (e.g. revoking the session's key)
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {op['key']}"}) as http:
            response = await http.request(op["method"], op["url"])
        return {"ok": True, "value": {"status": response.status_code}}
    if kind == "call":
        arguments = resolve(op.get("arguments", {}), outcomes)
        result = dump(await session.call_tool(op["name"], arguments))
        text = "".join(c.get("text", "") for c in result.get("content", []))
        return {"ok": True, "is_error": bool(result.get("isError")), "value": parse_text(text),
                "structured": result.get("structuredContent")}
    raise ValueError(f"unknown op {kind}")


async def drive(plan, streams):
    read, write = streams[0], streams[1]
    outcomes = []
    async with ClientSession(read, write) as session:
        init = dump(await session.initialize())
        for op in plan["ops"]:
            try:
                outcomes.append(await run_op(session, op, outcomes))
            except Exception as error:  # a protocol error is an outcome the test checks
                data = getattr(getattr(error, "error", None), "data", None)
                code = getattr(getattr(error, "error", None), "code", None)
                outcomes.append({"ok": False, "error": {"code": code, "message": str(error), "data": data},
                                 "value": None})
    return {"initialize": init, "outcomes": outcomes}


async def main():
    plan = json.load(sys.stdin)
    if plan["transport"] == "http":
        headers = {"Authorization": f"Bearer {plan['key']}"} if plan.get("key") else {}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as client:
            async with streamable_http_client(plan["url"], http_client=client) as streams:
                report = await drive(plan, streams)
    else:
        params = StdioServerParameters(command=plan["command"], args=plan.get("args", []), env=plan.get("env"))
        async with stdio_client(params) as streams:
            report = await drive(plan, streams)
    print(json.dumps(report))


asyncio.run(main())
